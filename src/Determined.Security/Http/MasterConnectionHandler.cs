using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>
/// Sends the name override as <c>Host</c> (hence SNI), refuses plain HTTP when encryption is required, turns
/// connection failures into classified <see cref="MasterConnectionException"/>s, and swaps in a new
/// <see cref="SocketsHttpHandler"/> when trust or identity files change (new connections use the new material; the old
/// handler keeps serving what is in flight and is disposed later).
/// </summary>
internal sealed class MasterConnectionHandler : HttpMessageHandler
{
    private readonly CertificateTrustResolver _resolver;
    private readonly Func<(SocketsHttpHandler Handler, TrustDecision Decision)> _build;
    private readonly ILogger _logger;
    private readonly Lock _swap = new();
    private const int MaxRetired = 8;
    private readonly List<Generation> _retired = [];
    private volatile Generation _current;
    private TlsPolicy? _failedPolicy;
    private long _retryBuildAt;
    private volatile bool _disposed;
    private (string Name, int Port, string Value)? _hostHeader;

    /// <param name="resolver">The trust; it owns reloading.</param>
    /// <param name="build">Builds a handler with the resolver's current trust, and the decision it applies (called again after each reload).</param>
    /// <param name="logger">Where connection failures are logged.</param>
    public MasterConnectionHandler(CertificateTrustResolver resolver, Func<(SocketsHttpHandler Handler, TrustDecision Decision)> build, ILogger logger)
    {
        _resolver = resolver;
        _build = build;
        _logger = logger;
        var policy = resolver.Policy;
        var (handler, decision) = build();
        _current = new Generation(policy, handler, decision);
    }

    private TlsPolicy Policy => _current.Policy;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_swap)
            {
                _disposed = true;
                _current.Invoker.Dispose();
                foreach (var old in _retired)
                {
                    old.Invoker.Dispose();
                }

                _retired.Clear();
            }
        }

        base.Dispose(disposing);
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        MaybeSwap();
        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        var https = TlsPolicy.IsHttps(uri);
        if (!https && Policy.RequireEncryption)
        {
            SecurityTelemetry.Failed(MasterConnectionError.EncryptionRequired);
            throw Failure(uri, MasterConnectionError.EncryptionRequired,
                $"the URL '{uri.GetLeftPart(UriPartial.Authority)}' is plain HTTP and TlsOptions.RequireEncryption is on",
                $"use https://{uri.Authority} (enable TLS on the master with security.tls.cert and security.tls.key)", null);
        }

        if (https && _current.Decision.NameOverride is { } name && request.Headers.Host is null
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
            if (InnerFailure(ex) is { } decided)
            {
                // The resolver rejected the certificate: it logged and counted it (1003) where it decided; not again here.
                throw decided;
            }

            var classified = await ClassifyAsync(ex, request, uri, https, cancellationToken).ConfigureAwait(false);
            if (classified is null)
            {
                // .NET's messages name the proxy URL, password included: never pass that on.
                var redacted = SafeText.Ascii(SafeText.Redact(ex.Message));
                if (!string.Equals(redacted, ex.Message, StringComparison.Ordinal) || (ex.InnerException is not null && !string.Equals(SafeText.Redact(ex.InnerException.Message), ex.InnerException.Message, StringComparison.Ordinal)))
                {
                    throw new HttpRequestException(ex.HttpRequestError, redacted, Innermost(ex) is System.Net.Sockets.SocketException socket ? socket : null, ex.StatusCode);
                }

                throw;
            }

            Log.ConnectionFailed(_logger, uri, classified.Error, classified.Message);
            SecurityTelemetry.Failed(classified.Error);
            throw classified;
        }
        catch (OperationCanceledException ex) when (ex.InnerException is TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            // SocketsHttpHandler.ConnectTimeout covers the TCP connect and the TLS handshake: say which one stalled.
            var authority = uri.GetLeftPart(UriPartial.Authority);
            var phase = ConnectionProgress.Phase(request);
            MasterConnectionException stalled;
            if (https && (phase == ConnectionProgress.TlsHandshake || (phase is null && await MasterProbe.AcceptsConnectionsAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))))
            {
                stalled = Failure(uri, MasterConnectionError.HandshakeFailed,
                    $"the server at {authority} accepted the connection but never answered the TLS handshake (within the connect timeout)",
                    "check that the port belongs to a Determined master with TLS on (security.tls.cert and security.tls.key) and that no firewall or proxy holds the connection; a plain-TCP service on this port never answers a TLS client", ex);
            }
            else
            {
                stalled = ConnectionFailures.Unreachable(uri, MasterConnectionError.ConnectTimeout, ConnectionProgress.Tried(request), "no TCP connection could be established within the connect timeout", ex);
            }

            Log.ConnectionFailed(_logger, uri, stalled.Error, stalled.Message);
            SecurityTelemetry.Failed(stalled.Error);
            throw stalled;
        }
    }

    private static MasterConnectionException? InnerFailure(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is MasterConnectionException decided)
            {
                return decided;
            }
        }

        return null;
    }

    private async Task<MasterConnectionException?> ClassifyAsync(HttpRequestException ex, HttpRequestMessage request, Uri uri, bool https, CancellationToken cancellationToken)
    {
        var authority = uri.GetLeftPart(UriPartial.Authority);
        var proxy = _current.ProxyFor(uri);
        var tried = proxy is null ? ConnectionProgress.Tried(request) : $"the proxy {proxy.Scheme}://{proxy.Authority}";
        if (ConnectionFailures.Classify(ex, proxy) is { } unreachable)
        {
            return ConnectionFailures.Unreachable(uri, unreachable.Error, tried, unreachable.Detail, Sanitized(ex));
        }

        if (https && ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            if (await MasterProbe.SpeaksPlainHttpAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
            {
                return Failure(uri, MasterConnectionError.PlaintextServer,
                    $"'{authority}' is an https:// URL but the server on port {uri.Port} answers in plain HTTP",
                    Messages.PlaintextFix(uri), Sanitized(ex));
            }

            // (Through a proxy, a direct probe would judge another path than the request took: not probed.)
            if (proxy is null && Innermost(ex) is IOException && await MasterProbe.ClosesAtOnceAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
            {
                return ConnectionFailures.Unreachable(uri, MasterConnectionError.ConnectionClosed, tried, "the server accepted the connection and closed it without answering the TLS handshake", Sanitized(ex));
            }

            return Failure(uri, MasterConnectionError.HandshakeFailed,
                $"the TLS handshake with {uri.Authority} failed ({SafeText.Redact(Innermost(ex).Message)})",
                $"check that both sides share a TLS version (TlsOptions.MinimumTlsVersion is {Policy.MinimumTlsVersion}) and a cipher suite, and whether the master requires a client certificate ({Messages.ClientCertSetting})", Sanitized(ex));
        }

        if (!https && ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse or HttpRequestError.Unknown)
        {
            if (await MasterProbe.SpeaksTlsAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
            {
                return Failure(uri, MasterConnectionError.TlsServerOnPlaintextUrl,
                    $"'{authority}' is an http:// URL but the server on port {uri.Port} speaks TLS",
                    $"use https://{uri.Authority}", Sanitized(ex));
            }

            if (proxy is null && ex.HttpRequestError == HttpRequestError.ResponseEnded && await MasterProbe.ClosesAtOnceAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
            {
                return ConnectionFailures.Unreachable(uri, MasterConnectionError.ConnectionClosed, tried, "the server accepts connections and closes them at once, without answering", Sanitized(ex));
            }
        }

        // The connection ended while the request was sent or answered (a master killed or restarted, a dropped pooled
        // connection): classified, and marked as possibly delivered (the retry layer resends only idempotent requests).
        if (ex.HttpRequestError == HttpRequestError.ResponseEnded || (ex.HttpRequestError == HttpRequestError.Unknown && Innermost(ex) is IOException or System.Net.Sockets.SocketException))
        {
            return ConnectionFailures.Unreachable(uri, MasterConnectionError.ConnectionClosed, tried, "the connection closed before the master answered (it stopped, restarted or dropped the connection); the request may have reached it", Sanitized(ex));
        }

        return null;
    }

    /// <summary>
    /// The platform's exception as a classified failure's cause: its category, status and socket error kept (the retry layer
    /// reads the category), its message without the secrets .NET puts there (a proxy URL with its password).
    /// </summary>
    private static HttpRequestException Sanitized(HttpRequestException ex) =>
        new(ex.HttpRequestError, SafeText.Ascii(SafeText.Redact(ex.Message)), Innermost(ex) is System.Net.Sockets.SocketException socket ? socket : null, ex.StatusCode);

    private static MasterConnectionException Failure(Uri uri, MasterConnectionError error, string detail, string fix, Exception? inner) =>
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

    /// <summary>
    /// When the resolver's policy changed (its files were reloaded), new connections go through a new handler built with
    /// it. The old handler is not disposed then: what is in flight on it (long responses, websockets) runs to its end and
    /// its idle connections close after PooledConnectionIdleTimeout; every handler is disposed with this one.
    /// </summary>
    private void MaybeSwap()
    {
        var policy = _resolver.MaybeReload();
        if (ReferenceEquals(policy, _current.Policy))
        {
            return;
        }

        lock (_swap)
        {
            var next = _resolver.Policy;
            if (_disposed || ReferenceEquals(next, _current.Policy))
            {
                return;
            }

            // A build that failed for this policy (an override threw) is retried at the reload interval, not per request;
            // until it succeeds requests fail: the old trust is never used for new connections once new trust is in force.
            var now = _resolver.TimeProvider.GetTimestamp();
            if (ReferenceEquals(next, _failedPolicy) && now < _retryBuildAt)
            {
                throw new DeterminedException("The connection handler for the reloaded TLS settings could not be built; see the earlier error. Requests fail until it can be.");
            }

            (SocketsHttpHandler Handler, TrustDecision Decision) built;
            try
            {
                built = _build();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _failedPolicy = next;
                _retryBuildAt = now + (long)(Math.Max(1, next.ReloadCheckInterval.TotalSeconds) * _resolver.TimeProvider.TimestampFrequency);
                throw new DeterminedException($"The connection handler for the reloaded TLS settings could not be built ({ex.GetType().Name}: {SafeText.Ascii(ex.Message)}); requests fail until it can be.", ex);
            }

            _failedPolicy = null;
            _retired.Add(_current);
            if (_retired.Count > MaxRetired)
            {
                // Many reloads later, the oldest generation has long finished what it carried.
                _retired[0].Invoker.Dispose();
                _retired.RemoveAt(0);
            }

            _current = new Generation(next, built.Handler, built.Decision);
        }
    }

    private sealed class Generation(TlsPolicy policy, SocketsHttpHandler handler, TrustDecision decision)
    {
        public TlsPolicy Policy { get; } = policy;

        /// <summary>The trust this handler applies: its expected name is the one the Host header carries under a name override.</summary>
        public TrustDecision Decision { get; } = decision;

        /// <summary>The proxy this handler sends requests for <paramref name="uri"/> through (an app's, or the environment's), or null.</summary>
        public Uri? ProxyFor(Uri uri) => handler.UseProxy ? MasterConnector.ProxyFor(handler.Proxy ?? HttpClient.DefaultProxy, uri) : null;

        public HttpMessageInvoker Invoker { get; } = new(handler, disposeHandler: true);
    }
}
