using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Determined.Security;

/// <summary>
/// Connects to a master with certificate validation off to see what it presents: the chain, the negotiated protocol
/// and cipher suite, or that the port speaks plain HTTP. Used for trust on first use and diagnostics; nothing is sent
/// over the connection.
/// </summary>
public static class MasterProbe
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private const string HandshakeFix = "check the URL and port of the master, and that it accepts TLS 1.2 or 1.3 without a client certificate";

    /// <summary>Probes a master.</summary>
    /// <param name="masterUri">The master URL; its host and port are dialled.</param>
    /// <param name="certificateName">The TLS server name to send instead of the URL host (the name override), if any.</param>
    /// <param name="cancellationToken">Cancels the probe.</param>
    /// <returns>What the port presented.</returns>
    public static async Task<MasterProbeResult> ProbeAsync(Uri masterUri, string? certificateName = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        var targetHost = TrustDecision.ExpectedNameFor(masterUri, certificateName);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(s_timeout);
        var presented = new List<X509Certificate2>();
        Stream transport;
        try
        {
            transport = await ConnectAsync(masterUri.IdnHost, masterUri.Port, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var failure = ex is ProxyException proxy
                ? ConnectionFailures.Unreachable(masterUri, MasterConnectionError.ProxyFailed, proxy.Proxy, proxy.Message, ex)
                : ConnectionFailures.Classify(ex, proxy: null) is { } reached
                    ? ConnectionFailures.Unreachable(masterUri, reached.Error, MasterConnector.Endpoint(masterUri), reached.Detail, ex)
                    : ConnectionFailures.Unreachable(masterUri, MasterConnectionError.ConnectTimeout, null, $"no TCP connection within {s_timeout.TotalSeconds:0} s", ex);
            return new MasterProbeResult(masterUri, targetHost, presented, null, null, speaksPlainHttp: false, $"cannot connect to {masterUri.Authority}: {SafeText.Redact(ex.Message)}", failure);
        }

        var ssl = new SslStream(transport, leaveInnerStreamOpen: false);
        await using var sslScope = ssl.ConfigureAwait(false);
        try
        {
#pragma warning disable CA5359 // Capture-only connection for trust on first use and diagnostics; no data is exchanged.
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = targetHost,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,

                    // The platform builds a chain before the callback; it must not fetch the issuer URLs a server names.
                    CertificateChainPolicy = ChainPolicies.CaptureOnly(),
                    RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                    {
                        if (certificate is not null)
                        {
                            presented.AddRange(PresentedChain.Of(certificate, chain, copy: true));
                        }

                        // Capture only: this connection carries no data and is closed right away.
                        return true;
                    },
                },
                cts.Token).ConfigureAwait(false);
#pragma warning restore CA5359
            // Some platforms (Windows under Wine, seen) report no suite: TLS_NULL_WITH_NULL_NULL is "unknown", never a suite in use.
            var suite = ssl.NegotiatedCipherSuite is var negotiated && negotiated != TlsCipherSuite.TLS_NULL_WITH_NULL_NULL ? negotiated : (TlsCipherSuite?)null;
            return new MasterProbeResult(masterUri, targetHost, presented, ssl.SslProtocol, suite, speaksPlainHttp: false, error: null);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or CryptographicException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // Within the probe's own budget: a port that stalled the handshake gets no second full timeout.
            var stalled = cts.IsCancellationRequested;
            var plain = !stalled && await SpeaksPlainHttpAsync(masterUri.IdnHost, masterUri.Port, cts.Token).ConfigureAwait(false);
            var closed = !stalled && !plain && ex is IOException && await ClosesAtOnceAsync(masterUri.IdnHost, masterUri.Port, cancellationToken).ConfigureAwait(false);
            var url = MasterAddress.Canonicalize(masterUri);
            var failure = plain
                ? new MasterConnectionException(MasterConnectionError.PlaintextServer, masterUri.IdnHost, Messages.Failure(MasterConnectionError.PlaintextServer, masterUri.IdnHost, null, $"{url} answers in plain HTTP, so it has no certificate to trust", Messages.PlaintextFix(masterUri)), Messages.PlaintextFix(masterUri), null, ex)
                : closed
                    ? ConnectionFailures.Unreachable(masterUri, MasterConnectionError.ConnectionClosed, null, "the server accepted the connection and closed it without answering the TLS handshake", ex)
                    : new MasterConnectionException(MasterConnectionError.HandshakeFailed, masterUri.IdnHost, Messages.Failure(MasterConnectionError.HandshakeFailed, masterUri.IdnHost, null, $"no certificate could be fetched from {url} (TLS handshake failed: {(stalled ? $"the server accepted the connection but did not complete the TLS handshake within {s_timeout.TotalSeconds:0} s" : SafeText.Redact(ex.Message))})", HandshakeFix), HandshakeFix, null, ex);
            return new MasterProbeResult(masterUri, targetHost, presented, null, null, plain, $"TLS handshake failed: {ex.Message}", failure);
        }
    }

    /// <summary>True when the port answers a plain HTTP request with an HTTP status line.</summary>
    internal static async Task<bool> SpeaksPlainHttpAsync(string host, int port, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(s_timeout);
        try
        {
            var stream = await ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            await using var streamScope = stream.ConfigureAwait(false);
            var request = Encoding.ASCII.GetBytes($"HEAD /info HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            await stream.WriteAsync(request, cts.Token).ConfigureAwait(false);
            var buffer = new byte[5];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), cts.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            return read == 5 && buffer.AsSpan().SequenceEqual("HTTP/"u8);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// A connection to <paramref name="host"/>:<paramref name="port"/> as requests make it: directly, or through the proxy
    /// <see cref="HttpClient.DefaultProxy"/> names for an <c>https://</c> URL of that host (<c>HTTPS_PROXY</c>,
    /// <c>NO_PROXY</c>, …) with an HTTP CONNECT tunnel, the proxy's credentials sent as Basic authentication.
    /// </summary>
    internal static async Task<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var target = new UriBuilder(Uri.UriSchemeHttps, host, port).Uri;
        var proxy = HttpClient.DefaultProxy;
        var proxyUri = MasterConnector.ProxyFor(proxy, target);
        var client = new TcpClient();
        try
        {
            if (proxyUri is null)
            {
                await client.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
                return client.GetStream();
            }

            if (!string.Equals(proxyUri.Scheme, Uri.UriSchemeHttp, StringComparison.OrdinalIgnoreCase))
            {
                // The tunnel request (with the proxy's credentials) goes over plain TCP: only to an http:// proxy.
                throw new ProxyException($"{MasterConnector.Endpoint(proxyUri.IdnHost, proxyUri.Port)} (the proxy)", $"the proxy {proxyUri.Scheme}://{proxyUri.Authority} is not an http:// proxy; the certificate probe tunnels only through http:// proxies (HTTPS_PROXY=http://host:port), so it does not send the proxy's credentials to it", null);
            }

            var proxyName = $"{MasterConnector.Endpoint(proxyUri.IdnHost, proxyUri.Port)} (the proxy)";
            try
            {
                await client.ConnectAsync(proxyUri.IdnHost, proxyUri.Port, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new ProxyException(proxyName, $"the proxy {proxyUri.Scheme}://{proxyUri.Authority} could not be reached ({ex.SocketErrorCode})", ex);
            }

            var stream = client.GetStream();
            // RFC 9110 9.3.6: the request target of CONNECT is always host:port, the default port included.
            var authority = MasterConnector.Endpoint(target);
            var request = new StringBuilder($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
            if (proxy.Credentials?.GetCredential(proxyUri, "Basic") is { } credential && !string.IsNullOrEmpty(credential.UserName))
            {
                var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.UserName}:{credential.Password}"));
                request.Append("Proxy-Authorization: Basic ").Append(basic).Append("\r\n");
            }

            request.Append("\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()), cancellationToken).ConfigureAwait(false);
            var status = await ReadTunnelStatusAsync(stream, cancellationToken).ConfigureAwait(false);
            if (status != 200)
            {
                throw new ProxyException(proxyName, $"the proxy {proxyUri.Scheme}://{proxyUri.Authority} refused to open a tunnel to {authority} (HTTP {status}){(status == 407 ? "; its credentials (in HTTPS_PROXY) were missing or wrong" : string.Empty)}", null);
            }

            return stream;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Reads the proxy's answer head (at most 16 KiB) and returns its status code, or 0 when it is not HTTP.</summary>
    private static async Task<int> ReadTunnelStatusAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new List<byte>(256);
        var one = new byte[1];
        while (head.Count < 16 * 1024)
        {
            if (await stream.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 0)
            {
                break;
            }

            head.Add(one[0]);
            if (head.Count >= 4 && head[^1] == '\n' && head[^2] == '\r' && head[^3] == '\n' && head[^4] == '\r')
            {
                var text = Encoding.ASCII.GetString(head.ToArray());
                var parts = text.Split(' ', 3);
                return parts.Length >= 2 && parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code) ? code : 0;
            }
        }

        return 0;
    }

    /// <summary>True when a TCP connection to the port is accepted within a few seconds.</summary>
    internal static async Task<bool> AcceptsConnectionsAsync(string host, int port, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            var stream = await ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// True when the port accepts a connection and closes it on its own within a moment, before the client has sent
    /// anything (a listener that drops every connection, a master shutting down); a TLS or HTTP server waits instead.
    /// </summary>
    internal static async Task<bool> ClosesAtOnceAsync(string host, int port, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            var one = new byte[1];
            return await client.GetStream().ReadAsync(one, cts.Token).ConfigureAwait(false) == 0;
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return ex is IOException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionReset } } or SocketException { SocketErrorCode: SocketError.ConnectionReset };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>True when the port completes a TLS handshake.</summary>
    internal static async Task<bool> SpeaksTlsAsync(string host, int port, CancellationToken cancellationToken)
    {
        // A TLS server answers a ClientHello at once; a server that is silent for 3 s is not one (this runs on a failure path).
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            var result = await ProbeAsync(new UriBuilder(Uri.UriSchemeHttps, host, port).Uri, null, cts.Token).ConfigureAwait(false);
            return result.SpeaksTls;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}

/// <summary>The proxy a probe tunnels through could not be reached or refused the tunnel.</summary>
internal sealed class ProxyException(string proxy, string message, Exception? inner) : IOException(message, inner)
{
    public string Proxy { get; } = proxy;
}
