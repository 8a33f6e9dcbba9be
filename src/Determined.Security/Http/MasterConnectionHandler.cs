using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>
/// Sends the name override as <c>Host</c> (hence SNI), refuses plain HTTP when encryption is required, turns
/// connection failures into classified <see cref="MasterCertificateException"/>s, and swaps in a new
/// <see cref="SocketsHttpHandler"/> when trust or identity files change (new connections use the new material; the old
/// handler keeps serving what is in flight and is disposed later).
/// </summary>
internal sealed class MasterConnectionHandler : HttpMessageHandler
{
    private readonly Func<CertificateTrustResolver, SocketsHttpHandler> _build;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private volatile Generation _current;
    private long _nextCheck;
    private int _checking;
    private (DateTime, long)[] _rejected = [];
    private (string Name, int Port, string Value)? _hostHeader;

    public MasterConnectionHandler(CertificateTrustResolver resolver, Func<CertificateTrustResolver, SocketsHttpHandler> build, ILogger logger)
    {
        _build = build;
        _logger = logger;
        _time = resolver.Clock;
        _current = new Generation(resolver, build(resolver), Stamps(resolver.Policy));
        _nextCheck = NextCheck(resolver.Policy);
    }

    private TlsPolicy Policy => _current.Resolver.Policy;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _current.Invoker.Dispose();
        }

        base.Dispose(disposing);
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        MaybeReload();
        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        var https = CertificateTrustResolver.IsHttps(uri);
        if (!https && Policy.RequireEncryption)
        {
            SecurityTelemetry.Failed(MasterCertificateError.EncryptionRequired);
            throw Failure(uri, MasterCertificateError.EncryptionRequired,
                $"the URL '{uri.GetLeftPart(UriPartial.Authority)}' is plain HTTP and TlsOptions.RequireEncryption is on",
                $"use https://{uri.Authority} (enable TLS on the master with security.tls.cert and security.tls.key)", null);
        }

        if (https && Policy.MasterCertificateName is { } name && request.Headers.Host is null
            && !string.Equals(name, uri.IdnHost, StringComparison.OrdinalIgnoreCase))
        {
            // The Host value is the same for every request to the master: format it once (no per-request parsing).
            var cached = _hostHeader;
            if (cached is null || cached.Value.Port != uri.Port || !ReferenceEquals(cached.Value.Name, name))
            {
                cached = (name, uri.Port, uri.IsDefaultPort ? FormatHost(name) : string.Create(CultureInfo.InvariantCulture, $"{FormatHost(name)}:{uri.Port}"));
                _hostHeader = cached;
            }

            request.Headers.TryAddWithoutValidation("Host", cached.Value.Value);
        }

        return SendCoreAsync(request, uri, https, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, Uri uri, bool https, CancellationToken cancellationToken)
    {
        try
        {
            return await _current.Invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (!cancellationToken.IsCancellationRequested)
        {
            var classified = await ClassifyAsync(ex, uri, https, cancellationToken).ConfigureAwait(false);
            if (classified is null)
            {
                // .NET's messages name the proxy URL, password included: never pass that on.
                var redacted = Messages.Printable(Redaction.Redact(ex.Message));
                if (!string.Equals(redacted, ex.Message, StringComparison.Ordinal) || (ex.InnerException is not null && !string.Equals(Redaction.Redact(ex.InnerException.Message), ex.InnerException.Message, StringComparison.Ordinal)))
                {
                    throw new HttpRequestException(ex.HttpRequestError, redacted, Innermost(ex) is System.Net.Sockets.SocketException socket ? socket : null, ex.StatusCode);
                }

                throw;
            }

            Log.ConnectionFailed(_logger, uri, classified.Error, classified.Message);
            if (classified.Error is MasterCertificateError.PlaintextServer or MasterCertificateError.TlsServerOnPlaintextUrl or MasterCertificateError.HandshakeFailed)
            {
                SecurityTelemetry.Failed(classified.Error);
            }

            throw classified;
        }
        catch (OperationCanceledException ex) when (ex.InnerException is TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            // SocketsHttpHandler.ConnectTimeout covers the TCP connect and the TLS handshake: say which one stalled.
            var authority = uri.GetLeftPart(UriPartial.Authority);
            if (https && await MasterProbe.AcceptsConnectionsAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
            {
                var stalled = Failure(uri, MasterCertificateError.HandshakeFailed,
                    $"the server at {authority} accepted the connection but never answered the TLS handshake (within the connect timeout)",
                    "check that the port belongs to a Determined master with TLS on (security.tls.cert and security.tls.key) and that no firewall or proxy holds the connection; a plain-TCP service on this port never answers a TLS client", ex);
                Log.ConnectionFailed(_logger, uri, stalled.Error, stalled.Message);
                SecurityTelemetry.Failed(stalled.Error);
                throw stalled;
            }

            throw new HttpRequestException(HttpRequestError.ConnectionError, $"No connection to {authority} could be established within the connect timeout. Fix: check the master address and port, and that the master is running and reachable.", ex);
        }
    }

    private async Task<MasterCertificateException?> ClassifyAsync(HttpRequestException ex, Uri uri, bool https, CancellationToken cancellationToken)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is MasterCertificateException certificateException)
            {
                return certificateException;
            }
        }

        var authority = uri.GetLeftPart(UriPartial.Authority);
        if (https && ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            if (await MasterProbe.SpeaksPlainHttpAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
            {
                return Failure(uri, MasterCertificateError.PlaintextServer,
                    $"'{authority}' is an https:// URL but the server on port {uri.Port} answers in plain HTTP",
                    $"use http://{uri.Authority}, or enable TLS on the master (security.tls.cert and security.tls.key; a TLS master listens on 8443 by default)", ex);
            }

            return Failure(uri, MasterCertificateError.HandshakeFailed,
                $"the TLS handshake with {uri.Authority} failed ({Redaction.Redact(Innermost(ex).Message)})",
                $"check that both sides share a TLS version (TlsOptions.MinimumTlsVersion is {Policy.MinimumTlsVersion}) and a cipher suite, and whether the master requires a client certificate ({Messages.ClientCertSetting})", ex);
        }

        if (!https && ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse or HttpRequestError.Unknown
            && await MasterProbe.SpeaksTlsAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
        {
            return Failure(uri, MasterCertificateError.TlsServerOnPlaintextUrl,
                $"'{authority}' is an http:// URL but the server on port {uri.Port} speaks TLS",
                $"use https://{uri.Authority}", ex);
        }

        return null;
    }

    private static MasterCertificateException Failure(Uri uri, MasterCertificateError error, string detail, string fix, Exception? inner) =>
        new(error, uri.IdnHost, Messages.Failure(error, uri.IdnHost, null, detail, fix), fix, null, inner);

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex;
    }

    private static string FormatHost(string name) =>
        name.Contains(':', StringComparison.Ordinal) && !name.StartsWith('[') ? $"[{name}]" : name;

    private long NextCheck(TlsPolicy policy) =>
        policy.Options.ReloadCheckInterval <= TimeSpan.Zero || policy.SourceFiles.Count == 0
            ? long.MaxValue
            : _time.GetTimestamp() + (long)(policy.Options.ReloadCheckInterval.TotalSeconds * _time.TimestampFrequency);

    /// <summary>At most once per interval, and on one thread: stat the source files; reload when they changed.</summary>
    private void MaybeReload()
    {
        if (_time.GetTimestamp() < Interlocked.Read(ref _nextCheck) || Interlocked.Exchange(ref _checking, 1) == 1)
        {
            return;
        }

        try
        {
            var current = _current;
            Interlocked.Exchange(ref _nextCheck, NextCheck(current.Resolver.Policy));
            var stamps = Stamps(current.Resolver.Policy);
            if (stamps.AsSpan().SequenceEqual(current.Stamps) || stamps.AsSpan().SequenceEqual(_rejected))
            {
                return;
            }

            var errors = new List<string>();
            TlsPolicy? policy;
            SocketsHttpHandler? handler = null;
            CertificateTrustResolver? resolver = null;
            try
            {
                policy = TlsPolicy.TryCreate(current.Resolver.Policy.Options, errors);
                if (policy is not null)
                {
                    policy.SystemRootsOverride = current.Resolver.Policy.SystemRootsOverride;
                    resolver = current.Resolver.WithPolicy(policy);
                    handler = _build(resolver);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or InvalidOperationException or ArgumentException)
            {
                policy = null;
                errors.Add(ex.Message);
            }

            if (policy is null || handler is null || resolver is null)
            {
                _rejected = stamps;
                SecurityTelemetry.Reloads.Add(1, new KeyValuePair<string, object?>("result", "refused"));
                var refusedFiles = string.Join(" ", current.Resolver.Policy.SourceFiles);
                var reasons = string.Join(" ", errors);
                Log.ReloadRefused(_logger, refusedFiles, reasons);
                return;
            }

            _current = new Generation(resolver, handler, stamps);
            SecurityTelemetry.Reloads.Add(1, new KeyValuePair<string, object?>("result", "loaded"));
            var files = string.Join(" ", policy.SourceFiles);
            var client = policy.ClientCertificate is { } c ? CertificatePin.Sha256Fingerprint(c) : "none";
            Log.Reloaded(_logger, files, client, policy.PinnedCertificates.Count);

            // The old handler is not disposed: what is in flight on it (long responses, websockets) runs to its end; its
            // idle connections close after PooledConnectionIdleTimeout and the unreferenced handler is then collected.
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    private static (DateTime, long)[] Stamps(TlsPolicy policy)
    {
        var stamps = new (DateTime, long)[policy.SourceFiles.Count];
        for (var i = 0; i < stamps.Length; i++)
        {
            try
            {
                var info = new FileInfo(policy.SourceFiles[i]);
                stamps[i] = info.Exists ? (info.LastWriteTimeUtc, info.Length) : DirectoryStamp(policy.SourceFiles[i]);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                stamps[i] = (DateTime.MinValue, -2);
            }
        }

        return stamps;
    }

    /// <summary>A directory of trust files changes when any file in it changes, not only when files are added or removed.</summary>
    private static (DateTime, long) DirectoryStamp(string path)
    {
        var latest = Directory.GetLastWriteTimeUtc(path);
        long size = -1;
        foreach (var file in new DirectoryInfo(path).EnumerateFiles())
        {
            latest = file.LastWriteTimeUtc > latest ? file.LastWriteTimeUtc : latest;
            size += file.Length + 1;
        }

        return (latest, size);
    }

    private sealed class Generation(CertificateTrustResolver resolver, SocketsHttpHandler handler, (DateTime, long)[] stamps)
    {
        public CertificateTrustResolver Resolver { get; } = resolver;

        public HttpMessageInvoker Invoker { get; } = new(handler, disposeHandler: true);

        public (DateTime, long)[] Stamps { get; } = stamps;
    }
}
