using System.Net;
using System.Net.Sockets;

namespace Determined.Security;

/// <summary>
/// The TCP side of every connection to a master (the handler's <see cref="SocketsHttpHandler.ConnectCallback"/> and
/// <see cref="SocketsHttpHandler.PlaintextStreamFilter"/>): dials as the platform does (every resolved address in turn),
/// and records in the request that opened the connection which phase it is in and which addresses were tried, so that a
/// failure or an expired deadline names the phase (TCP connect, TLS handshake, response headers) and the addresses.
/// (Through a proxy the platform opens the tunnel with a request of its own, so a proxied request records nothing here.)
/// </summary>
internal static class MasterConnector
{
    public static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        var endpoint = context.DnsEndPoint;
        var https = request.RequestUri is { } uri && TlsPolicy.IsHttps(uri);
        var where = Endpoint(endpoint.Host, endpoint.Port);
        ConnectionProgress.Enter(request, ConnectionProgress.Connecting);
        ConnectionProgress.Tried(request, where);
        IPAddress[] addresses;
        if (IPAddress.TryParse(endpoint.Host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            addresses = await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                throw new SocketException((int)SocketError.HostNotFound);
            }

            ConnectionProgress.Tried(request, $"{where}, resolved to {Addresses(addresses)}");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        // Through a proxy the tunnel is opened next; the handshake (or the request) follows it.
        ConnectionProgress.Enter(request, https ? ConnectionProgress.TlsHandshake : ConnectionProgress.WaitingForHeaders);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Runs once the connection is ready for HTTP (after the TLS handshake on https://).</summary>
    public static ValueTask<Stream> ConnectedAsync(SocketsHttpPlaintextStreamFilterContext context, CancellationToken cancellationToken)
    {
        ConnectionProgress.Enter(context.InitialRequestMessage, ConnectionProgress.WaitingForHeaders);
        return ValueTask.FromResult(context.PlaintextStream);
    }

    /// <summary>
    /// The proxy requests to <paramref name="target"/> go through by <paramref name="proxy"/> (none when bypassed, when it
    /// names the target itself, or when the proxy object cannot answer).
    /// </summary>
    public static Uri? ProxyFor(IWebProxy proxy, Uri target)
    {
        try
        {
            return proxy.IsBypassed(target) ? null : proxy.GetProxy(target) is { } found && found != target ? found : null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or UriFormatException or ArgumentException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>A master URL's <c>host:port</c> (the port always written, an IPv6 literal in brackets).</summary>
    public static string Endpoint(Uri uri) => Endpoint(uri.HostNameType == UriHostNameType.IPv6 ? uri.Host : uri.IdnHost, uri.Port);

    /// <summary><c>host:port</c>, an IPv6 literal in brackets.</summary>
    public static string Endpoint(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]:{port}" : $"{host}:{port}";

    private static string Addresses(IPAddress[] addresses) =>
        addresses.Length == 0 ? "no address" : string.Join(", ", addresses.Take(4).Select(a => a.ToString())) + (addresses.Length > 4 ? $" and {addresses.Length - 4} more" : string.Empty);
}
