using System.Net;
using System.Net.Sockets;

namespace Determined.Testing;

/// <summary>
/// A loopback listener that never accepts, with its accept queue filled: Linux drops further SYNs, so a client's TCP
/// connect to <see cref="Port"/> neither succeeds nor is refused (a host behind a firewall that drops packets).
/// </summary>
public sealed class StalledListener : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _fillers = [];

    private StalledListener()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(0);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public static async Task<StalledListener> StartAsync()
    {
        var stalled = new StalledListener();
        for (var i = 0; i < 8; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            stalled._fillers.Add(filler);
            using var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                await filler.ConnectAsync(IPAddress.Loopback, stalled.Port, quick.Token);
            }
            catch (OperationCanceledException)
            {
                return stalled; // the queue is full: this connect was dropped
            }
        }

        throw new InvalidOperationException("the accept queue never filled; SYNs are not dropped on this system");
    }

    public void Dispose()
    {
        _fillers.ForEach(f => f.Dispose());
        _listener.Dispose();
    }
}
