using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Determined.Samples.Master.Limits;

/// <summary>
/// Caps the connections an unauthenticated peer can hold, before any TLS work: at most <c>limits.max_connections</c> in all
/// and <c>limits.max_connections_per_address</c> from one address; a connection over either is closed at accept. Refusals
/// are counted and logged at most once per 10 s per reason, with the count (a flood never floods the log). Idle and slow
/// connections are ended by Kestrel's handshake, keep-alive and request-headers timeouts (MasterHost).
/// </summary>
public sealed partial class ConnectionLimits(int maxConnections, int maxPerAddress, ILogger<ConnectionLimits> logger)
{
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private int _open;
    private long _refusedTotal;
    private long _refusedPerAddress;
    private readonly LogOncePer _totalLog = new(TimeSpan.FromSeconds(10));
    private readonly LogOncePer _perAddressLog = new(TimeSpan.FromSeconds(10));

    /// <summary>Gets the connections open now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Gets how many connections were refused because <c>limits.max_connections</c> was reached.</summary>
    public long RefusedTotal => Interlocked.Read(ref _refusedTotal);

    /// <summary>Gets how many connections were refused because their address held <c>limits.max_connections_per_address</c>.</summary>
    public long RefusedPerAddress => Interlocked.Read(ref _refusedPerAddress);

    /// <summary>The connection middleware (added to the listener before TLS).</summary>
    public ConnectionDelegate Wrap(ConnectionDelegate next) => async connection =>
    {
        var address = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        if (address is { IsIPv4MappedToIPv6: true })
        {
            address = address.MapToIPv4();
        }

        var total = Interlocked.Increment(ref _open);
        var fromAddress = address is null ? 0 : _perAddress.AddOrUpdate(address, 1, static (_, n) => n + 1);
        try
        {
            if (total > maxConnections)
            {
                Refuse(ref _refusedTotal, _totalLog, $"limits.max_connections ({maxConnections}) reached", address);
                connection.Abort(new ConnectionAbortedException("limits.max_connections"));
                return;
            }

            if (fromAddress > maxPerAddress)
            {
                Refuse(ref _refusedPerAddress, _perAddressLog, $"{address} holds limits.max_connections_per_address ({maxPerAddress})", address);
                connection.Abort(new ConnectionAbortedException("limits.max_connections_per_address"));
                return;
            }

            await next(connection);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            if (address is not null)
            {
                Release(address);
            }
        }
    };

    private void Release(IPAddress address)
    {
        while (_perAddress.TryGetValue(address, out var count))
        {
            if (count <= 1 ? _perAddress.TryRemove(KeyValuePair.Create(address, count)) : _perAddress.TryUpdate(address, count - 1, count))
            {
                return;
            }
        }
    }

    /// <summary>Counts a refusal; logs it when this reason was not logged in the last 10 s.</summary>
    private void Refuse(ref long counter, LogOncePer log, string reason, IPAddress? address)
    {
        var refused = Interlocked.Increment(ref counter);
        if (log.TryEnter())
        {
            Refused(logger, address?.ToString() ?? "an unknown address", reason, refused, Open);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a connection from {Address}: {Reason} ({Refused} refused for this reason so far; {Open} open). Fix: if these are real clients, raise the limit")]
    private static partial void Refused(ILogger logger, string address, string reason, long refused, int open);
}
