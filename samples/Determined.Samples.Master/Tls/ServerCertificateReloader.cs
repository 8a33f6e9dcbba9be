using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Security;

namespace Determined.Samples.Master.Tls;

/// <summary>
/// The master's certificate, reloaded without a restart: before a handshake (at most every 250 ms) the cert and key
/// files are read; a changed, valid pair is swapped in atomically for the next handshakes; an invalid or
/// mismatched pair is refused, the old one kept, and an error logged. In-flight connections are never touched.
/// A change is judged by the files' contents (SHA-256), never by their time or size: a Kubernetes secret volume swaps
/// its <c>..data</c> link (the <c>tls.crt</c> link itself never changes), and <c>cp -p</c> or <c>rsync -t</c> may
/// keep the size and set an older time. The bytes that were hashed are the bytes that are loaded.
/// </summary>
public sealed partial class ServerCertificateReloader
{
    private static readonly long s_checkInterval = Stopwatch.Frequency / 4;

    /// <summary>The most a certificate chain or key file may hold (a hostile or mistaken path to a huge file is refused).</summary>
    private const int MaxFileBytes = 1024 * 1024;
    private readonly string _certFile;
    private readonly string _keyFile;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private volatile Loaded _current;
    private long _lastCheck;
    private string? _rejectedStamp;

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

    /// <summary>
    /// The certificates of <c>security.tls.cert</c> as the next handshake serves them (the files are checked first, as
    /// before a handshake): the leaf first, then the file's others in order, each marked whether the handshake sends it.
    /// </summary>
    public IReadOnlyList<ServedCertificate> Served => Current.Served;

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
        var files = Read();
        return TryLoad(files, out var loaded, out var error) ? loaded : throw new InvalidOperationException(error);
    }

    public void CheckForChange()
    {
        Files files;
        try
        {
            files = Read();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return; // mid-replacement (a link swapped, a file renamed away); try again on a later handshake
        }

        if (files.Stamp == _current.Stamp || files.Stamp == _rejectedStamp)
        {
            return;
        }

        lock (_gate)
        {
            if (files.Stamp == _current.Stamp)
            {
                return;
            }

            if (TryLoad(files, out var loaded, out var error))
            {
                var old = _current.Leaf;
                _current = loaded;
                ReloadedCertificate(_logger, old.Sha256Fingerprint, loaded.Leaf.ToString());
                Reloaded?.Invoke(loaded.Leaf);
            }
            else
            {
                _rejectedStamp = files.Stamp;
                RefusedReplacement(_logger, error, _current.Leaf.ToString());
            }
        }
    }

    /// <summary>Both files as they are now (through any symbolic links), with one stamp of their contents.</summary>
    private Files Read()
    {
        var cert = ReadBounded(_certFile);
        var key = ReadBounded(_keyFile);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(SHA256.HashData(cert));
        hash.AppendData(SHA256.HashData(key));
        return new Files(System.Text.Encoding.UTF8.GetString(cert), System.Text.Encoding.UTF8.GetString(key), Convert.ToHexString(hash.GetHashAndReset()));
    }

    private static byte[] ReadBounded(string path)
    {
        // A FIFO or device reports no length and is never opened; a link is judged by what it finally points at.
        var info = new FileInfo(path);
        if (info.Exists && info.LinkTarget is not null)
        {
            info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? throw new IOException($"'{path}' is a link to a directory");
        }

        if (!info.Exists)
        {
            throw new FileNotFoundException($"'{path}' does not exist", path);
        }

        if (info.Length is 0 or > MaxFileBytes)
        {
            throw new IOException($"'{path}' is empty, not a regular file, or larger than {MaxFileBytes} bytes");
        }

        using var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        var buffer = new byte[MaxFileBytes + 1];
        var total = 0;
        int n;
        while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0)
        {
            total += n;
        }

        return total > MaxFileBytes ? throw new IOException($"'{path}' grew past {MaxFileBytes} bytes while it was read") : buffer.AsSpan(0, total).ToArray();
    }

    private bool TryLoad(Files files, out Loaded loaded, out string error)
    {
        loaded = null!;
        try
        {
            var pem = files.CertPem;
            using var withKey = X509Certificate2.CreateFromPem(pem, files.KeyPem);
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
                RootNotSent(_logger, _certFile, root.Subject);
            }

            var chainPem = string.Concat(all.Select(c => c.ExportCertificatePem() + "\n"));
            var summary = CertificateSummary.Create(leaf);
            List<ServedCertificate> served =
            [
                new(summary, InHandshake: true),
                .. chain.Select(c => new ServedCertificate(
                    CertificateSummary.Create(c), context.IntermediateCertificates.Any(i => i.RawDataMemory.Span.SequenceEqual(c.RawDataMemory.Span)))),
            ];
            loaded = new Loaded(context, summary, chainPem, served, files.Stamp);
            error = string.Empty;
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            error = $"security.tls.cert '{_certFile}' and security.tls.key '{_keyFile}' are not a valid certificate and matching private key: {ex.Message}";
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reloaded the TLS certificate without a restart: {Old} -> {New}")]
    private static partial void ReloadedCertificate(ILogger logger, string old, string @new);

    [LoggerMessage(Level = LogLevel.Error, Message = "Refused the replaced TLS certificate files ({Error}); still serving {Current}")]
    private static partial void RefusedReplacement(ILogger logger, string error, string current);

    [LoggerMessage(Level = LogLevel.Information, Message = "security.tls.cert '{File}' ends with the root '{Root}', which .NET does not send in the TLS handshake (upstream's master does): clients that trust on first use (det, Python) store a chain without it and need the CA file instead (DET_MASTER_CERT_FILE / --cert); tasks get the whole file")]
    private static partial void RootNotSent(ILogger logger, string file, string root);

    private sealed record Loaded(SslStreamCertificateContext Context, CertificateSummary Leaf, string ChainPem, IReadOnlyList<ServedCertificate> Served, string Stamp);

    private sealed record Files(string CertPem, string KeyPem, string Stamp);
}

/// <summary>A certificate of the served file, and whether the TLS handshake sends it (.NET on Linux never sends a self-signed root).</summary>
public sealed record ServedCertificate(CertificateSummary Certificate, bool InHandshake);
