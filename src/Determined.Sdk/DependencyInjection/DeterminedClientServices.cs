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
}

/// <summary>Validates <see cref="DeterminedClientOptions"/> at start: the effective settings, TLS files included; every problem listed.</summary>
internal sealed class DeterminedClientOptionsValidator(DeterminedEnvironment environment, DeterminedRegistration registration) : IValidateOptions<DeterminedClientOptions>
{
    public ValidateOptionsResult Validate(string? name, DeterminedClientOptions options)
    {
        var errors = new List<string>();
        _ = DeterminedConnectionSettings.TryResolve(options, environment, NullLogger.Instance, registration.Section, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Factories of the singletons <c>AddDeterminedClient</c> registers.</summary>
internal static class DeterminedClientServices
{
    public static DeterminedConnectionSettings Settings(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<DeterminedClientOptions>>().Value;
        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var errors = new List<string>();
        var settings = DeterminedConnectionSettings.TryResolve(
            options,
            services.GetRequiredService<DeterminedEnvironment>(),
            loggers.CreateLogger("Determined.Sdk"),
            services.GetService<DeterminedRegistration>()?.Section,
            errors);
        return errors.Count == 0 ? settings : throw new OptionsValidationException(Options.DefaultName, typeof(DeterminedClientOptions), errors);
    }

    public static MasterHttpHandlerFactory HandlerFactory(IServiceProvider services)
    {
        var settings = services.GetRequiredService<DeterminedConnectionSettings>();
        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var resolver = new CertificateTrustResolver(settings.Policy ?? TlsPolicy.Create(settings.Tls), loggers.CreateLogger<CertificateTrustResolver>(), services.GetService<TimeProvider>());
        return new MasterHttpHandlerFactory(resolver, loggers.CreateLogger<MasterHttpHandlerFactory>());
    }
}
