using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
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
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(masterUri.IdnHost, masterUri.Port, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return new MasterProbeResult(masterUri, targetHost, presented, null, null, speaksPlainHttp: false, $"cannot connect to {masterUri.Authority}: {ex.Message}");
        }

        var ssl = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
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
                    RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                    {
                        if (certificate is not null)
                        {
                            presented.Add(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                        }

                        foreach (var extra in chain?.ChainPolicy.ExtraStore ?? [])
                        {
                            if (certificate is null || !extra.RawDataMemory.Span.SequenceEqual(certificate.GetRawCertData()))
                            {
                                presented.Add(X509CertificateLoader.LoadCertificate(extra.RawData));
                            }
                        }

                        // Capture only: this connection carries no data and is closed right away.
                        return true;
                    },
                },
                cts.Token).ConfigureAwait(false);
#pragma warning restore CA5359
            return new MasterProbeResult(masterUri, targetHost, presented, ssl.SslProtocol, ssl.NegotiatedCipherSuite, speaksPlainHttp: false, error: null);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var plain = await SpeaksPlainHttpAsync(masterUri.IdnHost, masterUri.Port, cancellationToken).ConfigureAwait(false);
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
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            var stream = client.GetStream();
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

    /// <summary>True when a TCP connection to the port is accepted within a few seconds.</summary>
    internal static async Task<bool> AcceptsConnectionsAsync(string host, int port, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
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
