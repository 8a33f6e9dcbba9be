using Determined.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Sdk;

/// <summary>
/// Determined's precedence for a client's settings (explicit options &gt; <c>DET_*</c> environment &gt; CLI stores &gt;
/// defaults; docs/CONFIGURATION.md): the one place that decides them. <see cref="DeterminedConnectionSettings"/> is the result.
/// </summary>
internal static class SettingsResolver
{
    /// <summary>
    /// Resolves the settings, adding every problem to <paramref name="errors"/>; nothing unclassified leaves (whatever the
    /// files or the environment hold, a failure is one more entry), so every caller reports the same way.
    /// </summary>
    public static DeterminedConnectionSettings TryResolve(DeterminedClientOptions options, DeterminedEnvironment env, ILogger logger, IConfiguration? configuration, List<string> errors)
    {
        var s = DeterminedConnectionSettings.For(options);
        try
        {
            Resolve(s, options, env, logger, configuration, errors);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            errors.Add($"The Determined settings could not be resolved ({ex.GetType().Name}: {ex.Message}).");
        }

        return s;
    }

    private static void Resolve(DeterminedConnectionSettings s, DeterminedClientOptions options, DeterminedEnvironment env, ILogger logger, IConfiguration? configuration, List<string> errors)
    {
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
            s.AddSource(new("MasterUrl", address, SettingOrigin.Default, "localhost:8080"));
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

        // When the environment names a master (DET_MASTER, DET_MASTER_ADDR: inside a task), what it says about that master
        // (DET_MASTER_CERT_FILE, DET_MASTER_CERT_NAME, DET_USER_TOKEN, DET_SESSION_TOKEN, DET_USER) applies only when this
        // client talks to it, never to a master the options name instead: a task's noverify or name override must not weaken
        // the trust of another cluster, nor its tokens reach it. Without such a master, the certificate variables are the
        // user's own settings and apply to any master, as in upstream's CLI (credentials never do).
        var environmentNamesAMaster = (env.Get(DeterminedEnvironment.Master) ?? env.Get(DeterminedEnvironment.MasterAddr)) is not null;
        var forEnvironmentMaster = useEnv && (options.MasterUrl is not { Length: > 0 } || IsEnvironmentMaster(s.MasterUri, env));
        var environmentTls = forEnvironmentMaster || (useEnv && !environmentNamesAMaster);
        if (useEnv && !environmentTls && (env.Get(DeterminedEnvironment.MasterCertFile) ?? env.Get(DeterminedEnvironment.MasterCertName)) is not null)
        {
            s.AddSource(new("Tls", "(DET_MASTER_CERT_* not used: they describe another master)", SettingOrigin.Environment, DeterminedEnvironment.Master));
        }

        var (tls, consultStore) = ResolveTls(s, options, env, environmentTls, logger, configuration);
        try
        {
            // Validated once, and kept: the client's handler uses this policy; the files are not read again.
            var policy = TlsPolicy.Create(tls, env);
            if (consultStore && options.UseCertificateStore && s.MasterUri.Scheme == Uri.UriSchemeHttps)
            {
                // The same application of stored trust as the CLI's trust on first use.
                var store = new MasterCertificateStore(ConfigDirectory.For(env));
                var stored = new TrustOnFirstUse(store).ApplyStoredTrust(s.MasterUri, policy);
                if (!ReferenceEquals(stored, policy))
                {
                    s.AddSource(new("Tls.MasterCertificatePem", "(trusted on first use)", SettingOrigin.Store, store.FilePath));
                }

                policy = stored;
            }

            s.Tls = policy;
        }
        catch (DeterminedConfigurationException ex)
        {
            errors.AddRange(ex.Failures);
        }
        catch (DeterminedException ex)
        {
            errors.Add(ex.Message);
        }

        if (useEnv && !forEnvironmentMaster && (env.Get(DeterminedEnvironment.UserToken) ?? env.Get(DeterminedEnvironment.SessionToken)) is not null)
        {
            s.AddSource(new("Token", "(environment tokens not used: they belong to another master)", SettingOrigin.Environment, DeterminedEnvironment.Master));
        }

        ResolveCredentials(s, options, env, forEnvironmentMaster, configuration, errors);
        if (useEnv && !forEnvironmentMaster)
        {
            ValidateUseTls(env, errors);
        }

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
    }

    /// <summary>The effective options, and whether the trust-on-first-use store may still add a chain (upstream's precedence).</summary>
    private static (TlsOptions Options, bool ConsultStore) ResolveTls(DeterminedConnectionSettings s, DeterminedClientOptions options, DeterminedEnvironment env, bool useEnv, ILogger logger, IConfiguration? configuration)
    {
        var explicitTls = options.Tls ?? new TlsOptions();
        var tls = explicitTls.Clone();
        if (TrustPrecedence.Of(explicitTls) != TrustSelection.None)
        {
            // Upstream rule 1: explicit arguments win and the environment and store are ignored entirely.
            s.AddIfSet("Tls.MasterCertificateFile", explicitTls.MasterCertificateFile, configuration, "Tls:MasterCertificateFile");
            s.AddIfSet("Tls.MasterCertificatePem", explicitTls.MasterCertificatePem is null ? null : "(inline PEM)", configuration, "Tls:MasterCertificatePem");
            s.AddIfSet("Tls.MasterCertificateName", explicitTls.MasterCertificateName, configuration, "Tls:MasterCertificateName");
            if (explicitTls.DangerousSkipVerification)
            {
                s.Add("Tls.DangerousSkipVerification", "true", configuration, "Tls:DangerousSkipVerification");
            }

            return (tls, false);
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

                return (tls, false);
            }
        }

        return (tls, true);
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
                    s.AddSource(new("Token", $"(set, user {storeUser})", SettingOrigin.Store, store.FilePath));
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
            ValidateUseTls(env, errors);
        }
    }

    private static void ValidateUseTls(DeterminedEnvironment env, List<string> errors)
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

    /// <summary>Whether <paramref name="master"/> is the master the environment names (<c>DET_MASTER</c> or <c>DET_MASTER_ADDR</c>), compared canonically.</summary>
    private static bool IsEnvironmentMaster(Uri master, DeterminedEnvironment env) =>
        (env.Get(DeterminedEnvironment.Master) ?? env.Get(DeterminedEnvironment.MasterAddr)) is { } fromEnv
        && MasterAddress.TryParse(fromEnv, out var envUri, out _)
        && string.Equals(MasterAddress.Canonicalize(envUri), MasterAddress.Canonicalize(master), StringComparison.Ordinal);
}
