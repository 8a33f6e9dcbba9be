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

    /// <summary>Probes a master.</summary>
    /// <param name="masterUri">The master URL; its host and port are dialled.</param>
    /// <param name="certificateName">The TLS server name to send instead of the URL host (the name override), if any.</param>
    /// <param name="cancellationToken">Cancels the probe.</param>
    /// <returns>What the port presented.</returns>
    public static async Task<MasterProbeResult> ProbeAsync(Uri masterUri, string? certificateName = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        var targetHost = string.IsNullOrWhiteSpace(certificateName) ? masterUri.IdnHost : certificateName.Trim();
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
            return new MasterProbeResult(masterUri, targetHost, presented, null, null, speaksPlainHttp: false, $"cannot connect to {masterUri.Authority}: {Redaction.Redact(ex.Message)}");
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
                    CertificateChainPolicy = new X509ChainPolicy { RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true },
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
            return new MasterProbeResult(masterUri, targetHost, presented, ssl.SslProtocol, ssl.NegotiatedCipherSuite, speaksPlainHttp: false, error: null);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or CryptographicException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // Within the probe's own budget: a port that stalled the handshake gets no second full timeout.
            var plain = !cts.IsCancellationRequested && await SpeaksPlainHttpAsync(masterUri.IdnHost, masterUri.Port, cts.Token).ConfigureAwait(false);
            return new MasterProbeResult(masterUri, targetHost, presented, null, null, plain, $"TLS handshake failed: {ex.Message}");
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
        Uri? proxyUri = null;
        try
        {
            proxyUri = proxy.IsBypassed(target) ? null : proxy.GetProxy(target);
        }
        catch (Exception ex) when (ex is InvalidOperationException or UriFormatException or ArgumentException)
        {
            proxyUri = null;
        }

        var client = new TcpClient();
        try
        {
            if (proxyUri is null || proxyUri == target)
            {
                await client.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
                return client.GetStream();
            }

            if (!string.Equals(proxyUri.Scheme, Uri.UriSchemeHttp, StringComparison.OrdinalIgnoreCase))
            {
                // The tunnel request (with the proxy's credentials) goes over plain TCP: only to an http:// proxy.
                throw new IOException($"the proxy {proxyUri.Scheme}://{proxyUri.Authority} is not an http:// proxy; the certificate probe tunnels only through http:// proxies (HTTPS_PROXY=http://host:port), so it does not send the proxy's credentials to it");
            }

            await client.ConnectAsync(proxyUri.IdnHost, proxyUri.Port, cancellationToken).ConfigureAwait(false);
            var stream = client.GetStream();
            var authority = target.Authority;
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
                throw new IOException($"the proxy {proxyUri.Scheme}://{proxyUri.Authority} refused to open a tunnel to {authority} (HTTP {status}){(status == 407 ? "; its credentials (in HTTPS_PROXY) were missing or wrong" : string.Empty)}");
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

    /// <summary>True when the port completes a TLS handshake.</summary>
    internal static async Task<bool> SpeaksTlsAsync(string host, int port, CancellationToken cancellationToken)
    {
        var result = await ProbeAsync(new UriBuilder(Uri.UriSchemeHttps, host, port).Uri, null, cancellationToken).ConfigureAwait(false);
        return result.SpeaksTls;
    }
}
