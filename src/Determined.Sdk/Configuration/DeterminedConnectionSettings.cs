using Determined.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Determined.Sdk;

/// <summary>
/// The effective connection settings of a client: master URL, TLS options and credentials after applying
/// Determined's precedence (explicit options &gt; <c>DET_*</c> environment &gt; CLI stores &gt; defaults), with the source of
/// every value. Secrets are held but never shown.
/// </summary>
public sealed class DeterminedConnectionSettings
{
    private readonly List<DeterminedSettingSource> _sources = [];

    private DeterminedConnectionSettings()
    {
    }

    /// <summary>Gets the canonical master URL.</summary>
    public Uri MasterUri { get; private set; } = null!;

    /// <summary>Gets the effective TLS options (what <see cref="TlsPolicy.Create(TlsOptions)"/> receives).</summary>
    public TlsOptions Tls { get; private set; } = null!;

    /// <summary>Gets the user the client acts as, when known.</summary>
    public string? User { get; private set; }

    /// <summary>Gets a value indicating whether a user token is available.</summary>
    public bool HasUserToken => UserToken is not null;

    /// <summary>Gets a value indicating whether a task allocation token (<c>DET_SESSION_TOKEN</c>) is available.</summary>
    public bool HasAllocationToken => AllocationToken is not null;

    /// <summary>Gets every effective setting with its source, secrets shown as <c>(set)</c>.</summary>
    public IReadOnlyList<DeterminedSettingSource> Sources => _sources;

    internal string? UserToken { get; private set; }

    internal string? AllocationToken { get; private set; }

    internal DeterminedClientOptions Options { get; private set; } = null!;

    /// <summary>The policy made from <see cref="Tls"/> while resolving (null when it was invalid).</summary>
    internal TlsPolicy? Policy { get; private set; }

    /// <summary>Resolves the effective settings.</summary>
    /// <param name="options">The explicit options.</param>
    /// <param name="getEnvironmentVariable">Reads environment variables; <see langword="null"/> for the process environment.</param>
    /// <param name="logger">Receives the warning for a missing <c>DET_MASTER_CERT_FILE</c> path.</param>
    /// <param name="configuration">The section the options were bound from, to report configuration keys as sources.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="DeterminedConfigurationException">A setting is invalid; every problem is listed with its fix.</exception>
    public static DeterminedConnectionSettings Resolve(
        DeterminedClientOptions options,
        Func<string, string?>? getEnvironmentVariable = null,
        ILogger? logger = null,
        IConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var settings = TryResolve(options, new DeterminedEnvironment(getEnvironmentVariable), logger ?? NullLogger.Instance, configuration, errors);
        return errors.Count == 0 ? settings : throw new DeterminedConfigurationException(errors);
    }

    internal static DeterminedConnectionSettings TryResolve(DeterminedClientOptions options, DeterminedEnvironment env, ILogger logger, IConfiguration? configuration, List<string> errors)
    {
        var s = new DeterminedConnectionSettings { Options = options };
        var useEnv = options.UseEnvironment;

        // Master URL: options > DET_MASTER > DET_MASTER_ADDR > localhost:8080.
        string address;
        if (options.MasterUrl is { Length: > 0 } explicitUrl)
        {
            address = explicitUrl;
            s.Add("MasterUrl", explicitUrl, configuration, "MasterUrl");
        }
        else if (useEnv && env.TryGet(DeterminedEnvironment.Master, out var fromEnv))
        {
            address = fromEnv;
            s.AddEnv("MasterUrl", fromEnv, DeterminedEnvironment.Master);
        }
        else if (useEnv && env.TryGet(DeterminedEnvironment.MasterAddr, out var fromAddr))
        {
            address = fromAddr;
            s.AddEnv("MasterUrl", fromAddr, DeterminedEnvironment.MasterAddr);
        }
        else
        {
            address = MasterAddress.DefaultAddress;
            s._sources.Add(new("MasterUrl", address, SettingOrigin.Default, "localhost:8080"));
        }

        if (MasterAddress.TryParse(address, out var uri, out var addressError))
        {
            s.MasterUri = uri;
        }
        else
        {
            errors.Add(addressError);
            s.MasterUri = new Uri("http://localhost:8080");
        }

        if (configuration is not null)
        {
            // Passwords never come from configuration text: a key named like one is refused, not silently ignored.
            foreach (var child in configuration.GetSection("Tls").GetChildren())
            {
                if (child.Key.EndsWith("Password", StringComparison.OrdinalIgnoreCase) && child.Value is not null)
                {
                    errors.Add($"'{DeterminedClientOptions.SectionName}:Tls:{child.Key}' holds a plain-text password; passwords never come from configuration text. Fix: put it in a file and set {child.Key}File, or in an environment variable and set {child.Key}Variable.");
                }
            }
        }

        s.Tls = ResolveTls(s, options, env, useEnv, logger, configuration, errors);
        try
        {
            // Validated once, and kept: the client's handler uses this policy; the files are not read again.
            s.Policy = TlsPolicy.Create(s.Tls);
        }
        catch (DeterminedConfigurationException ex)
        {
            errors.AddRange(ex.Failures);
        }

        ResolveCredentials(s, options, env, useEnv, configuration, errors);

        if (options.MaxRetries is < 0 or > 10)
        {
            errors.Add($"DeterminedClientOptions.MaxRetries is {options.MaxRetries}. Fix: use 0 to 10 (config Determined:MaxRetries).");
        }

        if (options.RetryDelay < TimeSpan.Zero || options.RetryDelay > TimeSpan.FromMinutes(1))
        {
            errors.Add($"DeterminedClientOptions.RetryDelay is {options.RetryDelay}. Fix: use a delay from 0 to 1 minute (config Determined:RetryDelay, e.g. 00:00:00.250).");
        }

        if (options.MaxResponseBytes < 1024)
        {
            errors.Add($"DeterminedClientOptions.MaxResponseBytes is {options.MaxResponseBytes}. Fix: use at least 1024 bytes (config Determined:MaxResponseBytes; default 67108864 = 64 MiB).");
        }

        if (options.Timeout <= TimeSpan.Zero && options.Timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            errors.Add($"DeterminedClientOptions.Timeout is {options.Timeout}. Fix: use a positive duration (config Determined:Timeout, e.g. 00:01:40).");
        }

        return s;
    }

    private static TlsOptions ResolveTls(DeterminedConnectionSettings s, DeterminedClientOptions options, DeterminedEnvironment env, bool useEnv, ILogger logger, IConfiguration? configuration, List<string> errors)
    {
        var explicitTls = options.Tls ?? new TlsOptions();
        var tls = TlsOptionsCopy.Of(explicitTls);
        if (TrustPrecedence.IsExplicit(explicitTls))
        {
            // Upstream rule 1: explicit arguments win and the environment and store are ignored entirely.
            s.AddIfSet("Tls.MasterCertificateFile", explicitTls.MasterCertificateFile, configuration, "Tls:MasterCertificateFile");
            s.AddIfSet("Tls.MasterCertificatePem", explicitTls.MasterCertificatePem is null ? null : "(inline PEM)", configuration, "Tls:MasterCertificatePem");
            s.AddIfSet("Tls.MasterCertificateName", explicitTls.MasterCertificateName, configuration, "Tls:MasterCertificateName");
            if (explicitTls.DangerousSkipVerification)
            {
                s.Add("Tls.DangerousSkipVerification", "true", configuration, "Tls:DangerousSkipVerification");
            }

            return tls;
        }

        if (useEnv)
        {
            if (env.TryGet(DeterminedEnvironment.MasterCertName, out var name))
            {
                tls.MasterCertificateName = name;
                s.AddEnv("Tls.MasterCertificateName", name, DeterminedEnvironment.MasterCertName);
            }

            if (env.TryGet(DeterminedEnvironment.MasterCertFile, out var file))
            {
                if (TrustPrecedence.IsNoVerify(file))
                {
                    tls.DangerousSkipVerification = true;
                    s.AddEnv("Tls.DangerousSkipVerification", "true (noverify)", DeterminedEnvironment.MasterCertFile);
                }
                else if (File.Exists(file) || Directory.Exists(file))
                {
                    tls.MasterCertificateFile = file;
                    s.AddEnv("Tls.MasterCertificateFile", file, DeterminedEnvironment.MasterCertFile);
                }
                else
                {
                    Log.MissingCertFile(logger, DeterminedEnvironment.MasterCertFile, file);
                    s.AddEnv("Tls.MasterCertificateFile", $"(missing: {file}; using the system roots)", DeterminedEnvironment.MasterCertFile);
                }

                return tls;
            }
        }

        if (options.UseCertificateStore && s.MasterUri.Scheme == Uri.UriSchemeHttps)
        {
            try
            {
                // The same application of stored trust as the CLI's trust on first use.
                var store = new MasterCertificateStore(ConfigDirectory.For(env));
                tls = new TrustOnFirstUse(store).ApplyStoredTrust(s.MasterUri, tls);
                if (tls.MasterCertificatePem is not null)
                {
                    s._sources.Add(new("Tls.MasterCertificatePem", "(trusted on first use)", SettingOrigin.Store, store.FilePath));
                }
            }
            catch (DeterminedException ex)
            {
                errors.Add(ex.Message);
            }
        }

        return tls;
    }

    private static void ResolveCredentials(DeterminedConnectionSettings s, DeterminedClientOptions options, DeterminedEnvironment env, bool useEnv, IConfiguration? configuration, List<string> errors)
    {
        s.User = options.User;
        if (s.User is not null)
        {
            s.Add("User", s.User, configuration, "User");
        }
        else if (useEnv && env.TryGet(DeterminedEnvironment.User, out var user))
        {
            s.User = user;
            s.AddEnv("User", user, DeterminedEnvironment.User);
        }

        if (!string.IsNullOrEmpty(options.Token))
        {
            s.UserToken = options.Token;
            s.Add("Token", "(set)", configuration, "Token");
        }
        else if (!string.IsNullOrEmpty(options.TokenFile))
        {
            try
            {
                s.UserToken = BoundedFile.ReadAllText(options.TokenFile, BoundedFile.MaxSecretBytes).Trim();
                s.Add("Token", "(set, from file " + options.TokenFile + ")", configuration, "TokenFile");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add($"DeterminedClientOptions.TokenFile '{options.TokenFile}' cannot be read ({ex.Message}). Fix: point it at a readable file that holds the token (config Determined:TokenFile).");
            }
        }
        else if (useEnv && env.TryGet(DeterminedEnvironment.UserToken, out var token))
        {
            s.UserToken = token;
            s.AddEnv("Token", "(set)", DeterminedEnvironment.UserToken);
        }
        else if (options.UseTokenStore)
        {
            try
            {
                var store = new DeterminedTokenStore(ConfigDirectory.For(env));
                var url = MasterAddress.Canonicalize(s.MasterUri);
                var storeUser = s.User ?? store.GetActiveUser(url);
                if (storeUser is not null && store.GetToken(url, storeUser) is { } stored)
                {
                    s.User = storeUser;
                    s.UserToken = stored;
                    s._sources.Add(new("Token", $"(set, user {storeUser})", SettingOrigin.Store, store.FilePath));
                }
            }
            catch (DeterminedException ex)
            {
                errors.Add(ex.Message);
            }
        }

        if (useEnv && env.TryGet(DeterminedEnvironment.SessionToken, out var allocation))
        {
            s.AllocationToken = allocation;
            s.AddEnv("AllocationToken", "(set)", DeterminedEnvironment.SessionToken);
        }

        if (useEnv)
        {
            try
            {
                _ = env.GetBoolean(DeterminedEnvironment.UseTls);
            }
            catch (DeterminedException ex)
            {
                errors.Add(ex.Message);
            }
        }
    }

    private void Add(string name, string value, IConfiguration? configuration, string key)
    {
        var configured = configuration?[key] is not null;
        _sources.Add(new(name, value, configured ? SettingOrigin.Configuration : SettingOrigin.Options, configured ? $"{DeterminedClientOptions.SectionName}:{key}" : "DeterminedClientOptions." + key.Replace(':', '.')));
    }

    private void AddIfSet(string name, string? value, IConfiguration? configuration, string key)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            Add(name, value, configuration, key);
        }
    }

    private void AddEnv(string name, string value, string variable) =>
        _sources.Add(new(name, value, SettingOrigin.Environment, variable));
}
