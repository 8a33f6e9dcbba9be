using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Determined.Testing;

/// <summary>
/// A raw HTTP/1.1 server on 127.0.0.1 (OS-chosen port) that misbehaves on purpose: each request is answered by a
/// script that gets the request's index (0-based, counted over all connections) and its head, and writes whatever it
/// wants (or nothing) to the socket. Everything stops when the server is disposed.
/// </summary>
public sealed class HostileServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<int, string, Stream, CancellationToken, Task> _script;
    private readonly Task _accepting;
    private int _requests;

    private HostileServer(Func<int, string, Stream, CancellationToken, Task> script, bool readRequests, int port = 0)
    {
        _listener = new(IPAddress.Loopback, port);
        _script = script;
        _listener.Start();
        Uri = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _accepting = AcceptAsync(readRequests);
    }

    public Uri Uri { get; }

    /// <summary>Gets how many requests (or, with raw connections, connections) the server has seen.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>A server that runs <paramref name="script"/> for each HTTP request.</summary>
    public static HostileServer Start(Func<int, string, Stream, CancellationToken, Task> script) => new(script, readRequests: true);

    /// <summary>A server on a given port (e.g. one a client is already trying to reach).</summary>
    public static HostileServer StartOnPort(int port, Func<int, string, Stream, CancellationToken, Task> script) => new(script, readRequests: true, port);

    /// <summary>A loopback port nothing listens on (bound by the OS, then released).</summary>
    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A server that hands each raw connection to <paramref name="script"/> without reading anything (e.g. a TLS client hello left unanswered).</summary>
    public static HostileServer StartRaw(Func<int, Stream, CancellationToken, Task> script) => new((i, _, s, ct) => script(i, s, ct), readRequests: false);

    public static Task WriteAsync(Stream stream, string text, CancellationToken cancellationToken) =>
        stream.WriteAsync(Encoding.ASCII.GetBytes(text), cancellationToken).AsTask();

    /// <summary>A complete response with a body.</summary>
    public static Task RespondAsync(Stream stream, int status, string body, CancellationToken cancellationToken, string? extraHeaders = null) =>
        WriteAsync(stream, $"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n{extraHeaders}\r\n{body}", cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync(bool readRequests)
    {
        var connections = new List<Task>();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                connections.Add(ServeAsync(client, readRequests));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    private async Task ServeAsync(TcpClient client, bool readRequests)
    {
        using (client)
        {
            var stream = client.GetStream();
            try
            {
                if (!readRequests)
                {
                    await _script(Interlocked.Increment(ref _requests) - 1, string.Empty, stream, _stop.Token);
                    return;
                }

                while (!_stop.IsCancellationRequested)
                {
                    var head = await ReadHeadAsync(stream, _stop.Token);
                    if (head is null)
                    {
                        return;
                    }

                    await _script(Interlocked.Increment(ref _requests) - 1, head, stream, _stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // The client went away or the server stopped: both are normal here.
            }
        }
    }

    /// <summary>Reads one request head (and its Content-Length body), at most 64 KiB.</summary>
    private static async Task<string?> ReadHeadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (buffer.Count < 64 * 1024)
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                return null;
            }

            buffer.Add(one[0]);
            if (buffer.Count >= 4 && buffer[^1] == '\n' && buffer[^2] == '\r' && buffer[^3] == '\n' && buffer[^4] == '\r')
            {
                var head = Encoding.ASCII.GetString(buffer.ToArray());
                var length = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) is { } line
                    ? int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)
                    : 0;
                var body = new byte[Math.Min(length, 1 << 20)];
                var read = 0;
                while (read < body.Length)
                {
                    var n = await stream.ReadAsync(body.AsMemory(read), cancellationToken);
                    if (n == 0)
                    {
                        return null;
                    }

                    read += n;
                }

                return head;
            }
        }

        return null;
    }
}
