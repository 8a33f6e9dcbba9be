using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Security;

namespace Determined.Samples.Master.Tls;

/// <summary>
/// The master's certificate, reloaded without a restart: before a handshake (at most every 250 ms) the cert and key
/// files are checked; a changed, valid pair is swapped in atomically for the next handshakes; an invalid or
/// mismatched pair is refused, the old one kept, and an error logged. In-flight connections are never touched.
/// </summary>
public sealed class ServerCertificateReloader
{
    private static readonly long s_checkInterval = Stopwatch.Frequency / 4;
    private readonly string _certFile;
    private readonly string _keyFile;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private volatile Loaded _current;
    private long _lastCheck;
    private (DateTime, long, DateTime, long) _rejectedStamp;

    public ServerCertificateReloader(string certFile, string keyFile, ILogger logger)
    {
        _certFile = certFile;
        _keyFile = keyFile;
        _logger = logger;
        _current = Load() ?? throw new InvalidOperationException("unreachable");
        _lastCheck = Stopwatch.GetTimestamp();
    }

    public event Action<CertificateSummary>? Reloaded;

    public SslStreamCertificateContext Context => Current.Context;

    public CertificateSummary Leaf => _current.Leaf;

    /// <summary>The served chain as PEM (no key): what tasks and agents get.</summary>
    public string ChainPem => _current.ChainPem;

    private Loaded Current
    {
        get
        {
            var now = Stopwatch.GetTimestamp();
            if (now - Interlocked.Read(ref _lastCheck) > s_checkInterval)
            {
                Interlocked.Exchange(ref _lastCheck, now);
                CheckForChange();
            }

            return _current;
        }
    }

    /// <summary>Loads the pair now (start-up: errors are fatal).</summary>
    private Loaded? Load()
    {
        var stamp = Stamp();
        return TryLoad(stamp, out var loaded, out var error) ? loaded : throw new InvalidOperationException(error);
    }

    public void CheckForChange()
    {
        (DateTime, long, DateTime, long) stamp;
        try
        {
            stamp = Stamp();
        }
        catch (IOException)
        {
            return; // mid-replacement; try again on a later handshake
        }

        if (stamp == _current.Stamp || stamp == _rejectedStamp)
        {
            return;
        }

        lock (_gate)
        {
            if (stamp == _current.Stamp)
            {
                return;
            }

            if (TryLoad(stamp, out var loaded, out var error))
            {
                var old = _current.Leaf;
                _current = loaded;
                _logger.LogInformation("Reloaded the TLS certificate without a restart: {Old} -> {New}", old.Sha256Fingerprint, loaded.Leaf.ToString());
                Reloaded?.Invoke(loaded.Leaf);
            }
            else
            {
                _rejectedStamp = stamp;
                _logger.LogError("Refused the replaced TLS certificate files ({Error}); still serving {Current}", error, _current.Leaf.ToString());
            }
        }
    }

    private (DateTime, long, DateTime, long) Stamp()
    {
        var cert = new FileInfo(_certFile);
        var key = new FileInfo(_keyFile);
        if (!cert.Exists || !key.Exists)
        {
            throw new IOException("missing");
        }

        return (cert.LastWriteTimeUtc, cert.Length, key.LastWriteTimeUtc, key.Length);
    }

    private bool TryLoad((DateTime, long, DateTime, long) stamp, out Loaded loaded, out string error)
    {
        loaded = null!;
        try
        {
            var pem = File.ReadAllText(_certFile);
            using var withKey = X509Certificate2.CreateFromPem(pem, File.ReadAllText(_keyFile));
            // Re-import so the private key is usable by the TLS stack on every platform.
            var leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
            var all = new X509Certificate2Collection();
            all.ImportFromPem(pem);
            var chain = new X509Certificate2Collection();
            foreach (var c in all)
            {
                if (!c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
                {
                    chain.Add(c);
                }
            }

            var context = SslStreamCertificateContext.Create(leaf, chain, offline: true);
            if (chain.FirstOrDefault(c => c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData)) is { } root
                && !context.IntermediateCertificates.Any(c => c.RawDataMemory.Span.SequenceEqual(root.RawDataMemory.Span)))
            {
                // Upstream's Go master sends every certificate of the file; .NET on Linux never sends a self-signed root
                // (SslStreamCertificateContext.Linux.cs: TrimRootCertificate = true). Tasks still get the whole file.
                _logger.LogInformation(
                    "security.tls.cert '{File}' ends with the root '{Root}', which .NET does not send in the TLS handshake (upstream's master does): clients that trust on first use (det, Python) store a chain without it and need the CA file instead (DET_MASTER_CERT_FILE / --cert); tasks get the whole file",
                    _certFile,
                    root.Subject);
            }

            var chainPem = string.Concat(all.Select(c => c.ExportCertificatePem() + "\n"));
            loaded = new Loaded(context, CertificateSummary.Create(leaf), chainPem, stamp);
            error = string.Empty;
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            error = $"security.tls.cert '{_certFile}' and security.tls.key '{_keyFile}' are not a valid certificate and matching private key: {ex.Message}";
            return false;
        }
    }

    private sealed record Loaded(SslStreamCertificateContext Context, CertificateSummary Leaf, string ChainPem, (DateTime, long, DateTime, long) Stamp);
}
