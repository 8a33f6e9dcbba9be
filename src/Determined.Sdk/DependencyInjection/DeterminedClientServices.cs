using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Determined.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Determined.Sdk;

/// <summary>
/// One registered client: its options name, its HTTP client name and where its configuration section is. Fixed while
/// services are registered; never changed once the provider is built.
/// </summary>
internal sealed class NamedRegistration(string name, string httpClientName)
{
    public string Name { get; } = name;

    public string HttpClientName { get; } = httpClientName;

    /// <summary>The key of the section bound when the app gave none: <c>Determined</c>, or <c>Determined:Clients:{name}</c>.</summary>
    public string DefaultSectionKey => Name.Length == 0 ? DeterminedClientOptions.SectionName : $"{DeterminedClientOptions.SectionName}:Clients:{Name}";

    /// <summary>The section the app passed to <c>AddDeterminedClient</c> (then the default section is not bound), or null.</summary>
    public IConfiguration? ExplicitSection { get; set; }

    /// <summary>The section this client's options are bound from (for the provenance of each setting), or null.</summary>
    public IConfiguration? Section(IConfiguration? root) => ExplicitSection ?? root?.GetSection(DefaultSectionKey);
}

/// <summary>Every client <c>AddDeterminedClient</c> registered, by name (<see cref="Options.DefaultName"/> for the default one).</summary>
internal sealed class DeterminedRegistration
{
    public ConcurrentDictionary<string, NamedRegistration> Clients { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Resolves each registered client's effective settings, once per options instance: the validator at start and the
/// client factory later share the result, so start-up reads the TLS files and the stores once per client.
/// </summary>
internal sealed class ClientSettingsResolver(DeterminedEnvironment environment, DeterminedRegistration registration, IServiceProvider services)
{
    private readonly ConditionalWeakTable<DeterminedClientOptions, DeterminedConnectionSettings> _resolved = [];

    /// <summary>The settings of client <paramref name="name"/> for <paramref name="options"/>, or null with the problems in <paramref name="errors"/>.</summary>
    public DeterminedConnectionSettings? TryResolve(string name, DeterminedClientOptions options, List<string> errors)
    {
        if (_resolved.TryGetValue(options, out var known))
        {
            return known;
        }

        var client = Registration(name);
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger(ClientPipeline.LoggerCategory) ?? NullLogger.Instance;
        var before = errors.Count;
        var settings = SettingsResolver.TryResolve(options, environment, logger, client.Section(services.GetService<IConfiguration>()), errors);
        if (errors.Count > before)
        {
            return null;
        }

        _resolved.AddOrUpdate(options, settings);
        return settings;
    }

    public NamedRegistration Registration(string name) =>
        registration.Clients.TryGetValue(name, out var client)
            ? client
            : throw new InvalidOperationException($"No Determined client named '{name}' is registered. Fix: call services.AddDeterminedClient(\"{name}\", ...) (registered: {string.Join(", ", registration.Clients.Keys.Select(k => k.Length == 0 ? "(default)" : k))}).");
}

/// <summary>Validates each registered client's options at start: the effective settings, TLS files included; every problem listed.</summary>
internal sealed class DeterminedClientOptionsValidator(DeterminedRegistration registration, ClientSettingsResolver resolver) : IValidateOptions<DeterminedClientOptions>
{
    public ValidateOptionsResult Validate(string? name, DeterminedClientOptions options)
    {
        if (!registration.Clients.TryGetValue(name ?? Options.DefaultName, out var client))
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = new List<string>();
        return resolver.TryResolve(client.Name, options, errors) is null
            ? ValidateOptionsResult.Fail(errors.Select(e => client.Name.Length == 0 ? e : $"Determined client '{client.Name}': {e}"))
            : ValidateOptionsResult.Success;
    }
}

/// <summary>The settings and handler factory of each registered client, made once per name.</summary>
internal sealed class DeterminedClientServices(IServiceProvider services, ClientSettingsResolver resolver, IOptionsMonitor<DeterminedClientOptions> options) : IDeterminedClientFactory
{
    private readonly ConcurrentDictionary<string, Lazy<DeterminedConnectionSettings>> _settings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<MasterHttpHandlerFactory>> _handlers = new(StringComparer.Ordinal);

    public DeterminedClient CreateClient(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var client = resolver.Registration(name);
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
        _handlers.GetOrAdd(name, n => new Lazy<MasterHttpHandlerFactory>(
            () => ClientPipeline.HandlerFactory(Settings(n), services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance, services.GetService<TimeProvider>()),
            LazyThreadSafetyMode.PublicationOnly)).Value;

    private DeterminedConnectionSettings ResolveSettings(string name)
    {
        resolver.Registration(name);

        // The monitor's instance is the one ValidateOnStart validated (then its settings are known already).
        DeterminedClientOptions current;
        try
        {
            current = options.Get(name);
        }
        catch (OptionsValidationException ex)
        {
            throw new DeterminedConfigurationException(ex.Failures);
        }

        var errors = new List<string>();
        return resolver.TryResolve(name, current, errors) ?? throw new DeterminedConfigurationException(errors);
    }
}
