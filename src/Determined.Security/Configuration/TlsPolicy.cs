using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// The validated, immutable form of <see cref="TlsOptions"/>: every file read once, every setting checked.
/// Runtime objects (<see cref="CertificateTrustResolver"/>, <see cref="MasterHttpHandlerFactory"/>) use only this.
/// </summary>
public sealed class TlsPolicy
{
    private TlsPolicy(TlsOptions options, DeterminedEnvironment environment, X509Certificate2Collection pinned, string? pinnedSource, X509Certificate2? clientCertificate, X509Certificate2Collection clientIntermediates, List<TlsCipherSuite>? cipherSuites, IReadOnlyList<string> sourceFiles)
    {
        Options = options.Clone();
        Environment = environment;
        Selection = TrustPrecedence.Of(options);
        DangerousSkipVerification = Selection == TrustSelection.SkipVerification;
        TrustMode = options.TrustMode;
        MasterCertificateName = string.IsNullOrWhiteSpace(options.MasterCertificateName) ? null : options.MasterCertificateName;
        CheckCertificateRevocation = options.CheckCertificateRevocation;
        MinimumTlsVersion = options.MinimumTlsVersion;
        RequireEncryption = options.RequireEncryption;
        PinnedCertificateSource = pinnedSource;
        PinnedCollection = pinned;
        PinnedCertificates = [.. pinned];
        ClientCertificate = clientCertificate;
        SourceFiles = sourceFiles;
        if (cipherSuites is not null && !OperatingSystem.IsWindows())
        {
            CipherSuitesPolicy = new CipherSuitesPolicy(cipherSuites);
            EnabledProtocols = ProtocolsFor(cipherSuites, options.MinimumTlsVersion);
        }
        else
        {
            EnabledProtocols = options.MinimumTlsVersion == TlsVersion.Tls13
                ? System.Security.Authentication.SslProtocols.Tls13
                : System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
        }

        if (clientCertificate is not null)
        {
            ClientCertificateContext = SslStreamCertificateContext.Create(clientCertificate, clientIntermediates, offline: true);
        }
    }

    /// <summary>Gets the policy of a client with no settings: system roots, names from the URL, TLS 1.2 or later.</summary>
    public static TlsPolicy Default { get; } = Create(new TlsOptions());

    /// <summary>Gets a value indicating whether certificates are accepted without verification.</summary>
    public bool DangerousSkipVerification { get; }

    /// <summary>Gets how pinned certificates combine with the system roots.</summary>
    public MasterTrustMode TrustMode { get; }

    /// <summary>Gets the pinned certificates (empty when nothing is pinned).</summary>
    public IReadOnlyList<X509Certificate2> PinnedCertificates { get; }

    /// <summary>Gets where the pinned certificates came from (a path, or <c>inline PEM</c>), or <see langword="null"/>.</summary>
    public string? PinnedCertificateSource { get; }

    /// <summary>Gets the name verified instead of the URL host, or <see langword="null"/>.</summary>
    public string? MasterCertificateName { get; }

    /// <summary>Gets a value indicating whether revocation is checked online.</summary>
    public bool CheckCertificateRevocation { get; }

    /// <summary>Gets the client certificate for mutual TLS (with its private key), or <see langword="null"/>.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>Gets the lowest TLS version negotiated.</summary>
    public TlsVersion MinimumTlsVersion { get; }

    /// <summary>Gets a value indicating whether <c>http://</c> master URLs are refused.</summary>
    public bool RequireEncryption { get; }

    internal X509Certificate2Collection PinnedCollection { get; }

    internal SslStreamCertificateContext? ClientCertificateContext { get; }

    internal CipherSuitesPolicy? CipherSuitesPolicy { get; }

    /// <summary>The protocols to offer: from <see cref="MinimumTlsVersion"/>, narrowed to those the cipher suites allow.</summary>
    internal System.Security.Authentication.SslProtocols EnabledProtocols { get; }

    /// <summary>A copy of the options this policy was made from: what <see cref="TryReload"/> loads again.</summary>
    internal TlsOptions Options { get; }

    /// <summary>Where the password variables were read (the SDK's injectable reader): a reload reads them there again.</summary>
    internal DeterminedEnvironment Environment { get; }

    /// <summary>What the options chose about trust (<see cref="TrustPrecedence.Of"/>).</summary>
    internal TrustSelection Selection { get; }

    /// <summary>This policy with a chain from the trust-on-first-use store pinned (inline PEM); the same policy when <paramref name="pem"/> is null.</summary>
    /// <exception cref="DeterminedConfigurationException">The stored chain is not valid PEM.</exception>
    internal TlsPolicy WithStoredChain(string? pem)
    {
        if (pem is null)
        {
            return this;
        }

        var options = Options.Clone();
        options.MasterCertificatePem = pem;
        return Create(options, Environment);
    }

    /// <summary>The files this policy read; a change of any of them triggers a reload.</summary>
    internal IReadOnlyList<string> SourceFiles { get; }

    /// <summary>Gets how long before a certificate of the master's chain expires a warning is logged (zero: never).</summary>
    public TimeSpan CertificateExpiryWarning => Options.CertificateExpiryWarning;

    /// <summary>How often <see cref="SourceFiles"/> are checked for changes; zero or less: never.</summary>
    internal TimeSpan ReloadCheckInterval => Options.ReloadCheckInterval;

    /// <summary>Whether a URL is encrypted (<c>https://</c> or <c>wss://</c>).</summary>
    internal static bool IsHttps(Uri uri) =>
        uri.Scheme.Equals(Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase) || uri.Scheme.Equals(Uri.UriSchemeWss, StringComparison.OrdinalIgnoreCase);

    /// <summary>Loads the same options again (their files changed): the new policy, or <see langword="null"/> with the errors.</summary>
    internal TlsPolicy? TryReload(List<string> errors) => TryCreate(Options, errors, Environment);

    /// <summary>Validates options, loads every file they name, and returns the immutable policy.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The policy.</returns>
    /// <exception cref="DeterminedConfigurationException">One or more settings are invalid; <see cref="DeterminedConfigurationException.Failures"/> lists every problem with its fix.</exception>
    public static TlsPolicy Create(TlsOptions options) => Create(options, DeterminedEnvironment.Process);

    /// <summary>The same, reading password variables through <paramref name="environment"/> (the SDK's injectable reader).</summary>
    internal static TlsPolicy Create(TlsOptions options, DeterminedEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var policy = TryCreate(options, errors, environment);
        return policy ?? throw new DeterminedConfigurationException(errors);
    }

    /// <summary>A name override is one host name (one optional trailing dot) or one IP literal: never a wildcard, port, space or control character.</summary>
    internal static bool IsCertificateName(string name) =>
        HostNames.TryParseIPAddress(name, out _)
        || HostNames.IsValidHostName(name.EndsWith('.') ? name[..^1] : name, allowWildcard: false);

    internal static TlsPolicy? TryCreate(TlsOptions options, List<string> errors, DeterminedEnvironment? environment = null)
    {
        environment ??= DeterminedEnvironment.Process;
        var file = string.IsNullOrWhiteSpace(options.MasterCertificateFile) ? null : options.MasterCertificateFile.Trim();
        var noVerify = TrustPrecedence.IsNoVerify(options.MasterCertificateFile);
        var pem = string.IsNullOrWhiteSpace(options.MasterCertificatePem) ? null : options.MasterCertificatePem;
        if (noVerify)
        {
            file = null;
        }

        if ((options.DangerousSkipVerification || noVerify) && (file is not null || pem is not null))
        {
            errors.Add(Messages.PinnedWithSkip(file ?? "inline PEM"));
        }

        if (file is not null && pem is not null)
        {
            errors.Add(Messages.FileAndPem(file));
        }

        if (options.MasterCertificateName is { Length: > 0 } name)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add(Messages.BlankName());
            }
            else if (!IsCertificateName(name))
            {
                errors.Add(Messages.BadCertificateName(name));
            }
        }

        if (options.TrustMode == MasterTrustMode.PinnedOnly && file is null && pem is null && !options.DangerousSkipVerification && !noVerify)
        {
            errors.Add(Messages.PinnedOnlyWithoutPins());
        }

        if (!Enum.IsDefined(options.TrustMode))
        {
            errors.Add($"TlsOptions.TrustMode has the unknown value {(int)options.TrustMode}. Fix: use PinnedAdded or PinnedOnly.");
        }

        if (!Enum.IsDefined(options.MinimumTlsVersion))
        {
            errors.Add($"TlsOptions.MinimumTlsVersion has the unknown value {(int)options.MinimumTlsVersion}. Fix: use Tls12 or Tls13.");
        }

        var pinned = new X509Certificate2Collection();
        string? source = null;
        var before = errors.Count;
        var trustPassword = Secrets.Read(options.MasterCertificatePasswordFile, options.MasterCertificatePasswordVariable, "the truststore password", environment, errors);
        var trustPasswordFailed = errors.Count > before;
        before = errors.Count;
        var clientPassword = Secrets.Read(options.ClientCertificatePasswordFile, options.ClientCertificatePasswordVariable, "the client key password", environment, errors);
        var clientPasswordFailed = errors.Count > before;
        List<TlsCipherSuite>? cipherSuites = null;
        if (!string.IsNullOrWhiteSpace(options.CipherSuites))
        {
            cipherSuites = CipherSuiteNames.Parse(options.CipherSuites, errors);
            if (OperatingSystem.IsWindows())
            {
                errors.Add("TlsOptions.CipherSuites is not supported on Windows (the system's TLS configuration decides). Fix: configure cipher suites with Windows policy, or leave it unset.");
            }
        }

        if (cipherSuites is { Count: > 0 } && !cipherSuites.Any(IsTls13Suite) && options.MinimumTlsVersion == TlsVersion.Tls13)
        {
            errors.Add("TlsOptions.CipherSuites lists no TLS 1.3 suite but TlsOptions.MinimumTlsVersion is Tls13, so no connection could be made. Fix: add TLS_AES_128_GCM_SHA256 (or another TLS 1.3 suite), or lower MinimumTlsVersion to Tls12.");
        }

        if (options.CertificateExpiryWarning < TimeSpan.Zero)
        {
            errors.Add($"TlsOptions.CertificateExpiryWarning is {options.CertificateExpiryWarning}. Fix: use a positive period (default 14 days), or zero to turn the warning off.");
        }

        if (options.ReloadCheckInterval < TimeSpan.Zero)
        {
            errors.Add($"TlsOptions.ReloadCheckInterval is {options.ReloadCheckInterval}. Fix: use a positive interval, or zero to turn reloading off.");
        }

        if (file is not null && !trustPasswordFailed)
        {
            pinned = TrustMaterialFiles.LoadTrustFile(file, Messages.CertFileSetting, errors, trustPassword);
            source = file;
        }
        else if (pem is not null)
        {
            pinned = TrustMaterialFiles.LoadTrustPem(pem, "inline PEM", Messages.CertPemSetting, errors);
            source = "inline PEM";
        }

        X509Certificate2? clientCertificate = null;
        var intermediates = new X509Certificate2Collection();
        var clientCertFile = string.IsNullOrWhiteSpace(options.ClientCertificateFile) ? null : options.ClientCertificateFile;
        var clientKeyFile = string.IsNullOrWhiteSpace(options.ClientKeyFile) ? null : options.ClientKeyFile;
        if (clientCertFile is not null && !clientPasswordFailed)
        {
            var identity = ClientIdentityFiles.Load(clientCertFile, clientKeyFile, errors, clientPassword);
            if (identity is { } id)
            {
                (clientCertificate, intermediates) = id;
            }
        }
        else if (clientKeyFile is not null)
        {
            errors.Add(Messages.KeyWithoutCertificate(clientKeyFile));
        }

        if (errors.Count > 0)
        {
            return null;
        }

        var sourceFiles = new[] { file, clientCertFile, clientKeyFile, options.MasterCertificatePasswordFile, options.ClientCertificatePasswordFile }
            .Where(f => !string.IsNullOrWhiteSpace(f)).Select(f => f!).ToArray();
        return new TlsPolicy(options, environment, pinned, source, clientCertificate, intermediates, cipherSuites, sourceFiles);
    }

    private static bool IsTls13Suite(TlsCipherSuite suite) =>
        suite is TlsCipherSuite.TLS_AES_128_GCM_SHA256 or TlsCipherSuite.TLS_AES_256_GCM_SHA384 or TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256
            or TlsCipherSuite.TLS_AES_128_CCM_SHA256 or TlsCipherSuite.TLS_AES_128_CCM_8_SHA256;

    /// <summary>A protocol version with no allowed suite must not be offered (OpenSSL refuses an empty suite list).</summary>
    private static System.Security.Authentication.SslProtocols ProtocolsFor(List<TlsCipherSuite> suites, TlsVersion minimum)
    {
        var protocols = System.Security.Authentication.SslProtocols.None;
        if (suites.Any(IsTls13Suite))
        {
            protocols |= System.Security.Authentication.SslProtocols.Tls13;
        }

        if (minimum == TlsVersion.Tls12 && suites.Any(s => !IsTls13Suite(s)))
        {
            protocols |= System.Security.Authentication.SslProtocols.Tls12;
        }

        return protocols;
    }
}
