using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Determined.Security;

/// <summary>
/// The validated, immutable form of <see cref="TlsOptions"/>: every file read once, every setting checked.
/// Runtime objects (<see cref="CertificateTrustResolver"/>, <see cref="MasterHttpHandlerFactory"/>) use only this.
/// </summary>
public sealed class TlsPolicy
{
    private TlsPolicy(TlsOptions options, X509Certificate2Collection pinned, string? pinnedSource, X509Certificate2? clientCertificate, X509Certificate2Collection clientIntermediates)
    {
        DangerousSkipVerification = options.DangerousSkipVerification
            || string.Equals(options.MasterCertificateFile?.Trim(), TlsOptions.NoVerify, StringComparison.OrdinalIgnoreCase);
        TrustMode = options.TrustMode;
        MasterCertificateName = string.IsNullOrEmpty(options.MasterCertificateName) ? null : options.MasterCertificateName.Trim();
        CheckCertificateRevocation = options.CheckCertificateRevocation;
        MinimumTlsVersion = options.MinimumTlsVersion;
        RequireEncryption = options.RequireEncryption;
        PinnedCertificateSource = pinnedSource;
        PinnedCollection = pinned;
        PinnedCertificates = [.. pinned];
        ClientCertificate = clientCertificate;
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

    /// <summary>For tests: the roots that stand in for the operating system's store. <see langword="null"/> means the real store.</summary>
    internal X509Certificate2Collection? SystemRootsOverride { get; set; }

    /// <summary>Validates options, loads every file they name, and returns the immutable policy.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The policy.</returns>
    /// <exception cref="OptionsValidationException">One or more settings are invalid; <see cref="OptionsValidationException.Failures"/> lists every problem with its fix.</exception>
    public static TlsPolicy Create(TlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var policy = TryCreate(options, errors);
        return policy ?? throw new OptionsValidationException(Options.DefaultName, typeof(TlsOptions), errors);
    }

    internal static TlsPolicy? TryCreate(TlsOptions options, List<string> errors)
    {
        var file = string.IsNullOrWhiteSpace(options.MasterCertificateFile) ? null : options.MasterCertificateFile.Trim();
        var noVerify = string.Equals(file, TlsOptions.NoVerify, StringComparison.OrdinalIgnoreCase);
        var pem = string.IsNullOrWhiteSpace(options.MasterCertificatePem) ? null : options.MasterCertificatePem;
        if (noVerify)
        {
            file = null;
        }

        if (options.DangerousSkipVerification && (file is not null || pem is not null))
        {
            errors.Add(Messages.PinnedWithSkip(file ?? "inline PEM"));
        }

        if (file is not null && pem is not null)
        {
            errors.Add(Messages.FileAndPem(file));
        }

        if (options.MasterCertificateName is { Length: > 0 } name && string.IsNullOrWhiteSpace(name))
        {
            errors.Add(Messages.BlankName());
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
        if (file is not null)
        {
            pinned = PemFiles.LoadTrustFile(file, Messages.CertFileSetting, errors);
            source = file;
        }
        else if (pem is not null)
        {
            pinned = PemFiles.LoadTrustPem(pem, "inline PEM", Messages.CertPemSetting, errors);
            source = "inline PEM";
        }

        X509Certificate2? clientCertificate = null;
        var intermediates = new X509Certificate2Collection();
        var clientCertFile = string.IsNullOrWhiteSpace(options.ClientCertificateFile) ? null : options.ClientCertificateFile;
        var clientKeyFile = string.IsNullOrWhiteSpace(options.ClientKeyFile) ? null : options.ClientKeyFile;
        if (clientCertFile is not null)
        {
            var identity = PemFiles.LoadClientIdentity(clientCertFile, clientKeyFile, errors);
            if (identity is { } id)
            {
                (clientCertificate, intermediates) = id;
            }
        }
        else if (clientKeyFile is not null)
        {
            errors.Add(Messages.KeyWithoutCertificate(clientKeyFile));
        }

        return errors.Count > 0 ? null : new TlsPolicy(options, pinned, source, clientCertificate, intermediates);
    }
}
