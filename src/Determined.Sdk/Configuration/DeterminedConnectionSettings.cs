using Determined.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Sdk;

/// <summary>
/// The effective connection settings of a client: master URL, TLS options and credentials after applying
/// Determined's precedence (explicit options &gt; <c>DET_*</c> environment &gt; CLI stores &gt; defaults), with the source of
/// every value. Secrets are held but never shown.
/// </summary>
public sealed class DeterminedConnectionSettings
{
    private readonly List<DeterminedSetting> _sources = [];

    internal DeterminedConnectionSettings()
    {
    }

    /// <summary>Gets the canonical master URL.</summary>
    public Uri MasterUri { get; internal set; } = null!;

    /// <summary>Gets the effective TLS policy (validated, files read once): explicit options, else the <c>DET_MASTER_CERT_*</c>
    /// variables, else the chain trusted on first use; <see cref="Provenance"/> says which.</summary>
    public TlsPolicy Tls { get; internal set; } = null!;

    /// <summary>Gets the user the client acts as, when known.</summary>
    public string? User { get; internal set; }

    /// <summary>Gets a value indicating whether a user token is available.</summary>
    public bool HasUserToken => UserToken is not null;

    /// <summary>Gets a value indicating whether a task allocation token (<c>DET_SESSION_TOKEN</c>) is available.</summary>
    public bool HasAllocationToken => AllocationToken is not null;

    /// <summary>Gets every effective setting with its source, secrets shown as <c>(set)</c>.</summary>
    public IReadOnlyList<DeterminedSetting> Provenance => _sources;

    internal string? UserToken { get; set; }

    internal string? AllocationToken { get; set; }

    /// <summary>The deadline of one call, retries and body included (<see cref="DeterminedClientOptions.Timeout"/>).</summary>
    internal TimeSpan Timeout { get; private init; }

    /// <summary>How many times a failed call is retried (<see cref="DeterminedClientOptions.MaxRetries"/>).</summary>
    internal int MaxRetries { get; private init; }

    /// <summary>The first retry's delay (<see cref="DeterminedClientOptions.RetryDelay"/>).</summary>
    internal TimeSpan RetryDelay { get; private init; }

    /// <summary>The largest response body read (<see cref="DeterminedClientOptions.MaxResponseBytes"/>).</summary>
    internal long MaxResponseBytes { get; private init; }

    /// <summary>Settings with the call limits of <paramref name="options"/> (a snapshot: later changes to the options do not apply).</summary>
    internal static DeterminedConnectionSettings For(DeterminedClientOptions options) => new()
    {
        Timeout = options.Timeout,
        MaxRetries = options.MaxRetries,
        RetryDelay = options.RetryDelay,
        MaxResponseBytes = options.MaxResponseBytes,
    };

    /// <summary>Resolves the effective settings from explicit options, the process environment and the CLI's stores.</summary>
    /// <param name="options">The explicit options.</param>
    /// <param name="logger">Receives the warning for a missing <c>DET_MASTER_CERT_FILE</c> path.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="DeterminedConfigurationException">A setting is invalid; every problem is listed with its fix.</exception>
    public static DeterminedConnectionSettings Resolve(DeterminedClientOptions options, ILogger? logger = null) =>
        Resolve(options, null, logger);

    internal static DeterminedConnectionSettings Resolve(
        DeterminedClientOptions options,
        Func<string, string?>? getEnvironmentVariable,
        ILogger? logger = null,
        IConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var settings = SettingsResolver.TryResolve(options, new DeterminedEnvironment(getEnvironmentVariable), logger ?? NullLogger.Instance, configuration, errors);
        return errors.Count == 0 ? settings : throw new DeterminedConfigurationException(errors);
    }

    internal void AddSource(DeterminedSetting setting) => _sources.Add(setting);

    internal void Add(string name, string value, IConfiguration? configuration, string key)
    {
        var configured = configuration?[key] is not null;
        var section = configuration is Microsoft.Extensions.Configuration.IConfigurationSection { Path.Length: > 0 } bound ? bound.Path : DeterminedClientOptions.SectionName;
        _sources.Add(new(name, value, configured ? SettingOrigin.Configuration : SettingOrigin.Options, configured ? $"{section}:{key}" : "DeterminedClientOptions." + key.Replace(':', '.')));
    }

    internal void AddIfSet(string name, string? value, IConfiguration? configuration, string key)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            Add(name, value, configuration, key);
        }
    }

    internal void AddEnv(string name, string value, string variable) =>
        _sources.Add(new(name, value, SettingOrigin.Environment, variable));
}
