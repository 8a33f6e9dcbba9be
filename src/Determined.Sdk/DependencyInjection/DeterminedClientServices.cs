using Determined.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Determined.Sdk;

/// <summary>Marks that <c>AddDeterminedClient</c> ran, and remembers the configuration section for provenance.</summary>
internal sealed class DeterminedRegistration
{
    public IConfiguration? Section { get; set; }

    /// <summary>
    /// What validation resolved, for the options instance it validated. The settings singleton reuses it, so start-up reads
    /// the TLS files and the stores once (the options monitor validates before it hands out the instance the singleton is
    /// made from).
    /// </summary>
    public ValidatedSettings? Validated { get; set; }
}

/// <summary>One validation's result: a reference, so a reader never sees the options of one run with the settings of another.</summary>
internal sealed record ValidatedSettings(DeterminedClientOptions Options, DeterminedConnectionSettings Settings);

/// <summary>Validates <see cref="DeterminedClientOptions"/> at start: the effective settings, TLS files included; every problem listed.</summary>
internal sealed class DeterminedClientOptionsValidator(DeterminedEnvironment environment, DeterminedRegistration registration, IServiceProvider services) : IValidateOptions<DeterminedClientOptions>
{
    public ValidateOptionsResult Validate(string? name, DeterminedClientOptions options)
    {
        var errors = new List<string>();
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger(DeterminedClientServices.LoggerCategory) ?? NullLogger.Instance;
        var settings = DeterminedConnectionSettings.TryResolve(options, environment, logger, registration.Section, errors);
        if (errors.Count > 0)
        {
            return ValidateOptionsResult.Fail(errors);
        }

        registration.Validated = new ValidatedSettings(options, settings);
        return ValidateOptionsResult.Success;
    }
}

/// <summary>Factories of the singletons <c>AddDeterminedClient</c> registers.</summary>
internal static class DeterminedClientServices
{
    public const string LoggerCategory = "Determined.Sdk";

    public static DeterminedConnectionSettings Settings(IServiceProvider services)
    {
        // The monitor's instance is the one ValidateOnStart validated (IOptions<T>.Value would make and validate another).
        var options = services.GetRequiredService<IOptionsMonitor<DeterminedClientOptions>>().CurrentValue;
        if (services.GetService<DeterminedRegistration>()?.Validated is { } validated && ReferenceEquals(validated.Options, options))
        {
            return validated.Settings;
        }

        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var errors = new List<string>();
        var settings = DeterminedConnectionSettings.TryResolve(
            options,
            services.GetRequiredService<DeterminedEnvironment>(),
            loggers.CreateLogger(LoggerCategory),
            services.GetService<DeterminedRegistration>()?.Section,
            errors);
        return errors.Count == 0 ? settings : throw new DeterminedConfigurationException(errors);
    }

    public static MasterHttpHandlerFactory HandlerFactory(IServiceProvider services)
    {
        var settings = services.GetRequiredService<DeterminedConnectionSettings>();
        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var resolver = new CertificateTrustResolver(settings.Tls, loggers.CreateLogger<CertificateTrustResolver>(), services.GetService<TimeProvider>());
        return new MasterHttpHandlerFactory(resolver, loggers.CreateLogger<MasterHttpHandlerFactory>());
    }
}
