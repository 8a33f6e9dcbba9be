using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Determined.Security;

/// <summary>Cheap checks of what a port speaks, used to explain failed connections (never on the success path).</summary>
internal static class PortProbe
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);

    /// <summary>True when the port answers a plain HTTP request with an HTTP status line.</summary>
    public static async Task<bool> SpeaksPlainHttpAsync(string host, int port, CancellationToken cancellationToken)
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

    /// <summary>True when the port completes (or answers) a TLS handshake.</summary>
    public static async Task<bool> SpeaksTlsAsync(string host, int port, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(s_timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            using var ssl = new SslStream(client.GetStream());
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = host,
#pragma warning disable CA5359 // Only asks whether the port speaks TLS; nothing is sent over this connection.
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
                },
                cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (AuthenticationException)
        {
            // A TLS alert (e.g. a client certificate is required) still proves the port speaks TLS,
            // but a frame error means it does not; only a completed handshake is taken as proof.
            return false;
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }
}
