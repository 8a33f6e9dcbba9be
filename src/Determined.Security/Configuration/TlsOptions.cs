namespace Determined.Security;

/// <summary>
/// Settings that decide how a connection to a Determined master is secured. Bind it from configuration
/// (section <c>Determined:Tls</c>) or set it in code, then turn it into an immutable <see cref="TlsPolicy"/>
/// with <see cref="TlsPolicy.Create(TlsOptions)"/>, which validates every setting and loads every file once.
/// </summary>
/// <remarks>
/// The environment variables of a Determined task (<c>DET_MASTER_CERT_FILE</c>, <c>DET_MASTER_CERT_NAME</c>)
/// are applied by <c>Determined.Sdk</c>; values set here win over them.
/// </remarks>
public sealed class TlsOptions
{
    /// <summary>The value of <see cref="MasterCertificateFile"/> that turns verification off, as in Determined (any case).</summary>
    public const string NoVerify = "noverify";

    /// <summary>
    /// Gets or sets a PEM file with the certificates to trust for the master: its CA (root and intermediates)
    /// or its own self-signed certificate; or a directory of <c>.pem</c>/<c>.crt</c> files. The special value
    /// <c>noverify</c> (any case) turns verification off, like <c>DET_MASTER_CERT_FILE=noverify</c>.
    /// </summary>
    public string? MasterCertificateFile { get; set; }

    /// <summary>Gets or sets the certificates to trust as inline PEM text, instead of <see cref="MasterCertificateFile"/>.</summary>
    public string? MasterCertificatePem { get; set; }

    /// <summary>
    /// Gets or sets how pinned certificates combine with the system roots. The default,
    /// <see cref="MasterTrustMode.PinnedAdded"/>, is what Determined's CLI and tasks do.
    /// </summary>
    public MasterTrustMode TrustMode { get; set; } = MasterTrustMode.PinnedAdded;

    /// <summary>
    /// Gets or sets the name to verify in the master's certificate instead of the host of the master URL
    /// (Determined's <c>master_cert_name</c>, <c>DET_MASTER_CERT_NAME</c>). With it, a master reached by IP address
    /// can present a certificate that only names a DNS name. It is also sent as the TLS server name (SNI) and
    /// the HTTP <c>Host</c> header.
    /// </summary>
    public string? MasterCertificateName { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether every certificate is accepted without any check. Anyone on the
    /// network path can then read and change the traffic, tokens included. A warning is logged each time a
    /// handler is built with it. Cannot be combined with a pinned certificate.
    /// </summary>
    public bool DangerousSkipVerification { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether certificate revocation is checked online. Off by default: private
    /// CAs rarely publish reachable revocation lists, and an unreachable list stalls every handshake.
    /// </summary>
    public bool CheckCertificateRevocation { get; set; }

    /// <summary>
    /// Gets or sets a PEM file with the client certificate for mutual TLS (an agent's
    /// <c>security.tls.client_cert</c>); it may also hold the private key and intermediates.
    /// </summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>Gets or sets a PEM file with the private key of <see cref="ClientCertificateFile"/> (an agent's <c>security.tls.client_key</c>).</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>
    /// Gets or sets a file whose first line is the password of the client key (encrypted PKCS#8 PEM) or of a PKCS#12
    /// client keystore. Passwords never come from configuration text.
    /// </summary>
    public string? ClientCertificatePasswordFile { get; set; }

    /// <summary>Gets or sets the name of an environment variable holding the password of the client key or keystore.</summary>
    public string? ClientCertificatePasswordVariable { get; set; }

    /// <summary>Gets or sets a file whose first line is the password of a PKCS#12 truststore given as <see cref="MasterCertificateFile"/>.</summary>
    public string? MasterCertificatePasswordFile { get; set; }

    /// <summary>Gets or sets the name of an environment variable holding the password of a PKCS#12 truststore.</summary>
    public string? MasterCertificatePasswordVariable { get; set; }

    /// <summary>
    /// Gets or sets the allowed cipher suites: OpenSSL names (<c>ECDHE-RSA-AES128-GCM-SHA256</c>) or IANA names
    /// (<c>TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256</c>, <c>TLS_AES_128_GCM_SHA256</c>), separated by <c>:</c>, <c>,</c> or spaces.
    /// Unset: the platform's defaults. Mapped to <see cref="System.Net.Security.CipherSuitesPolicy"/> (Linux and macOS).
    /// </summary>
    public string? CipherSuites { get; set; }

    /// <summary>
    /// Gets or sets how often (at most) the trust and identity files are checked for changes; a valid change is used by
    /// new connections without a restart, an invalid one is refused and the old material kept. Zero turns reloading off.
    /// Default one second.
    /// </summary>
    public TimeSpan ReloadCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how long before a master's certificate (or a CA of its chain) expires a warning is logged (once per
    /// chain and handler) so a renewal is seen before tasks fail. The time left is also reported as the metric
    /// <c>determined.security.master_certificate.expires_in</c> (seconds). Default 14 days; zero turns the warning off.
    /// </summary>
    public TimeSpan CertificateExpiryWarning { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Gets or sets the lowest TLS version to negotiate. Defaults to <see cref="TlsVersion.Tls12"/>.</summary>
    public TlsVersion MinimumTlsVersion { get; set; } = TlsVersion.Tls12;

    /// <summary>
    /// Gets or sets a value indicating whether an <c>http://</c> master URL is refused instead of used in plain text
    /// (Dask's <c>require_encryption</c>).
    /// </summary>
    public bool RequireEncryption { get; set; }

    /// <summary>Creates a copy of these options (the SDK never changes a caller's options).</summary>
    /// <returns>A new instance with the same values; OwnershipTests.TlsOptionsClone_CarriesEveryProperty sets every property by reflection and checks the copy carries it.</returns>
    internal TlsOptions Clone() => new()
    {
        MasterCertificateFile = MasterCertificateFile,
        MasterCertificatePem = MasterCertificatePem,
        TrustMode = TrustMode,
        MasterCertificateName = MasterCertificateName,
        DangerousSkipVerification = DangerousSkipVerification,
        CheckCertificateRevocation = CheckCertificateRevocation,
        ClientCertificateFile = ClientCertificateFile,
        ClientKeyFile = ClientKeyFile,
        ClientCertificatePasswordFile = ClientCertificatePasswordFile,
        ClientCertificatePasswordVariable = ClientCertificatePasswordVariable,
        MasterCertificatePasswordFile = MasterCertificatePasswordFile,
        MasterCertificatePasswordVariable = MasterCertificatePasswordVariable,
        CipherSuites = CipherSuites,
        ReloadCheckInterval = ReloadCheckInterval,
        CertificateExpiryWarning = CertificateExpiryWarning,
        MinimumTlsVersion = MinimumTlsVersion,
        RequireEncryption = RequireEncryption,
    };
}
