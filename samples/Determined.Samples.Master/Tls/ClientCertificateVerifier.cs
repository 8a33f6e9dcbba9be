using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Determined.Security;

namespace Determined.Samples.Master.Tls;

/// <summary>
/// With resource_manager.require_authentication, the TLS layer asks for (but does not require) a client certificate;
/// a presented one must chain to resource_manager.client_ca (system roots when unset) or the handshake is refused.
/// Whether a certificate was needed is decided per endpoint (/agents answers 403 without one).
/// </summary>
public sealed partial class ClientCertificateVerifier
{
    private readonly X509ChainPolicy _policy;
    private readonly ILogger _logger;
    private long _refused;
    private readonly Limits.LogOncePer _log = new(TimeSpan.FromSeconds(10));

    public ClientCertificateVerifier(string? clientCaFile, ILogger logger)
    {
        _logger = logger;
        _policy = new X509ChainPolicy { RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        _policy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2"));
        if (clientCaFile is not null)
        {
            // Same trust formats as clients: a PEM file or a directory of PEM/CRT files, validated with clear errors.
            var roots = TrustFile.Load(clientCaFile);
            _policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            _policy.CustomTrustStore.AddRange(roots.ToArray());
        }
    }

    public bool Validate(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            return true; // no certificate: allowed at the TLS layer, refused by endpoints that need one
        }

        using var chain = new X509Chain { ChainPolicy = _policy.Clone() };
        foreach (var extra in presented?.ChainPolicy.ExtraStore ?? [])
        {
            chain.ChainPolicy.ExtraStore.Add(extra);
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (chain.Build(leaf))
        {
            return true;
        }

        // At most one line per 10 s (with the count): a client that retries handshakes never floods the log.
        var refused = Interlocked.Increment(ref _refused);
        if (!_log.TryEnter())
        {
            return false;
        }

        Refused(_logger, CertificateSummary.Create(leaf).Subject, CertificatePin.Sha256Fingerprint(leaf), string.Join(", ", chain.ChainStatus.Select(s => s.Status)), refused);
        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a client certificate '{Subject}' (SHA-256 {Fingerprint}): {Status} ({Refused} refused so far)")]
    private static partial void Refused(ILogger logger, string subject, string fingerprint, string status, long refused);
}
