using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Determined.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Determined.Sdk;

/// <summary>One registered client: its options name, its HTTP client name and the configuration section it is bound from.</summary>
internal sealed class NamedRegistration(string name, string httpClientName)
{
    public string Name { get; } = name;

    public string HttpClientName { get; } = httpClientName;

    public IConfiguration? Section { get; set; }

    /// <summary>Whether the app passed the section (then the default section is not bound).</summary>
    public bool HasExplicitSection { get; set; }

    /// <summary>
    /// What validation resolved, for the options instance it validated: the settings reuse it, so start-up reads the TLS
    /// files and the stores once per client.
    /// </summary>
    public ValidatedSettings? Validated { get; set; }
}

/// <summary>Every client <c>AddDeterminedClient</c> registered, by name (<see cref="Options.DefaultName"/> for the default one).</summary>
internal sealed class DeterminedRegistration
{
    public ConcurrentDictionary<string, NamedRegistration> Clients { get; } = new(StringComparer.Ordinal);
}

/// <summary>One validation's result: a reference, so a reader never sees the options of one run with the settings of another.</summary>
internal sealed record ValidatedSettings(DeterminedClientOptions Options, DeterminedConnectionSettings Settings);

/// <summary>Validates each registered client's options at start: the effective settings, TLS files included; every problem listed.</summary>
internal sealed class DeterminedClientOptionsValidator(DeterminedEnvironment environment, DeterminedRegistration registration, IServiceProvider services) : IValidateOptions<DeterminedClientOptions>
{
    public ValidateOptionsResult Validate(string? name, DeterminedClientOptions options)
    {
        if (!registration.Clients.TryGetValue(name ?? Options.DefaultName, out var client))
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = new List<string>();
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger(DeterminedClientServices.LoggerCategory) ?? NullLogger.Instance;
        var settings = SettingsResolver.TryResolve(options, environment, logger, client.Section, errors);

        if (errors.Count > 0)
        {
            return ValidateOptionsResult.Fail(errors.Select(e => client.Name.Length == 0 ? e : $"Determined client '{client.Name}': {e}"));
        }

        client.Validated = new ValidatedSettings(options, settings);
        return ValidateOptionsResult.Success;
    }
}

/// <summary>The settings and handler factory of each registered client, made once per name.</summary>
internal sealed class DeterminedClientServices(IServiceProvider services, DeterminedRegistration registration, IOptionsMonitor<DeterminedClientOptions> options) : IDeterminedClientFactory
{
    public const string LoggerCategory = "Determined.Sdk";

    private readonly ConcurrentDictionary<string, Lazy<DeterminedConnectionSettings>> _settings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<MasterHttpHandlerFactory>> _handlers = new(StringComparer.Ordinal);

    public DeterminedClient CreateClient(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var client = Registration(name);
        var http = services.GetRequiredService<IHttpClientFactory>().CreateClient(client.HttpClientName);
        return new DeterminedClient(
            http,
            Settings(name),
            services.GetService<ILoggerFactory>()?.CreateLogger<DeterminedClient>(),
            services.GetService<IMeterFactory>(),
            services.GetService<TimeProvider>());
    }

    // PublicationOnly: a failure (a store lock held too long, a token file mid-rotation) is not cached; the next call tries again.
    public DeterminedConnectionSettings Settings(string name) =>
        _settings.GetOrAdd(name, n => new Lazy<DeterminedConnectionSettings>(() => ResolveSettings(n), LazyThreadSafetyMode.PublicationOnly)).Value;

    public MasterHttpHandlerFactory HandlerFactory(string name) =>
        _handlers.GetOrAdd(name, n => new Lazy<MasterHttpHandlerFactory>(() =>
        {
            var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            var resolver = new CertificateTrustResolver(Settings(n).Tls, loggers.CreateLogger<CertificateTrustResolver>(), services.GetService<TimeProvider>());
            return new MasterHttpHandlerFactory(resolver, loggers.CreateLogger<MasterHttpHandlerFactory>());
        }, LazyThreadSafetyMode.PublicationOnly)).Value;

    private NamedRegistration Registration(string name) =>
        registration.Clients.TryGetValue(name, out var client)
            ? client
            : throw new InvalidOperationException($"No Determined client named '{name}' is registered. Fix: call services.AddDeterminedClient(\"{name}\", ...) (registered: {string.Join(", ", registration.Clients.Keys.Select(k => k.Length == 0 ? "(default)" : k))}).");

    private DeterminedConnectionSettings ResolveSettings(string name)
    {
        var client = Registration(name);

        // The monitor's instance is the one ValidateOnStart validated.
        DeterminedClientOptions current;
        try
        {
            current = options.Get(name);
        }
        catch (OptionsValidationException ex)
        {
            throw new DeterminedConfigurationException(ex.Failures);
        }

        if (client.Validated is { } validated && ReferenceEquals(validated.Options, current))
        {
            return validated.Settings;
        }

        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var errors = new List<string>();
        var settings = SettingsResolver.TryResolve(current, services.GetRequiredService<DeterminedEnvironment>(), loggers.CreateLogger(LoggerCategory), client.Section, errors);
        return errors.Count == 0 ? settings : throw new DeterminedConfigurationException(errors);
    }
}
