using System.Net.Sockets;

namespace Determined.Security;

/// <summary>
/// Every way of not reaching a master, classified and worded once (for the connection handler, trust on first use and
/// the probe): what happened, where the connection was dialled to (the resolved addresses, the proxy), and the fix for
/// the class. Upstream's Python client reports all of these as <c>MasterNotFoundException</c>; here each has its class.
/// </summary>
internal static class ConnectionFailures
{
    /// <summary>The class of a failure to reach the master, from the socket error (or the platform's category) under it.</summary>
    /// <param name="exception">What the platform threw.</param>
    /// <param name="proxy">The proxy requests to the master go through, if any: every connection is then made to it.</param>
    public static (MasterConnectionError Error, string Detail)? Classify(Exception exception, Uri? proxy)
    {
        var http = exception as HttpRequestException;
        if (http?.HttpRequestError == HttpRequestError.ProxyTunnelError)
        {
            var status = http.StatusCode is { } code ? $" with HTTP {(int)code}{((int)code == 407 ? " (proxy authentication required: the credentials in the proxy variable are missing or wrong)" : string.Empty)}" : string.Empty;
            return (MasterConnectionError.ProxyFailed, $"the proxy refused to open a tunnel to the master{status}");
        }

        if (http is not null && http.HttpRequestError is not (HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError))
        {
            // The connection was made: a reset or close after that (mid-request) is not a failure to reach the master.
            return null;
        }

        var socket = SocketError(exception);
        var error = socket switch
        {
            System.Net.Sockets.SocketError.ConnectionRefused => MasterConnectionError.ConnectionRefused,
            System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.TryAgain or System.Net.Sockets.SocketError.NoData => MasterConnectionError.NameNotResolved,
            System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.HostUnreachable or System.Net.Sockets.SocketError.NetworkDown => MasterConnectionError.NetworkUnreachable,
            System.Net.Sockets.SocketError.TimedOut => MasterConnectionError.ConnectTimeout,
            System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.ConnectionAborted or System.Net.Sockets.SocketError.Shutdown => MasterConnectionError.ConnectionClosed,
            _ when http?.HttpRequestError == HttpRequestError.NameResolutionError => MasterConnectionError.NameNotResolved,
            _ => (MasterConnectionError?)null,
        };
        if (error is not { } found)
        {
            return null;
        }

        var detail = found switch
        {
            MasterConnectionError.ConnectionRefused => "the connection was refused: nothing listens on that port",
            MasterConnectionError.NameNotResolved => "the host name does not resolve",
            MasterConnectionError.NetworkUnreachable => "there is no route to the host",
            MasterConnectionError.ConnectTimeout => "the TCP connection timed out",
            _ => "the connection was reset before an answer",
        };
        if (proxy is not null && found != MasterConnectionError.ConnectionClosed)
        {
            return (MasterConnectionError.ProxyFailed, $"the proxy {proxy.Scheme}://{proxy.Authority} could not be reached: {detail}");
        }

        return (found, detail);
    }

    /// <summary>The exception for a master that could not be reached.</summary>
    public static MasterConnectionException Unreachable(Uri uri, MasterConnectionError error, string? tried, string detail, Exception? inner)
    {
        var host = uri.IdnHost;
        var endpoint = MasterConnector.Endpoint(uri);
        var fix = error switch
        {
            MasterConnectionError.ConnectionRefused =>
                $"check that the master is running and listening on {endpoint}{PortHint(uri)}, and that the master URL is right (DET_MASTER, det -m, DeterminedClientOptions.MasterUrl)",
            MasterConnectionError.ConnectionClosed =>
                $"check that {endpoint} is a Determined master{PortHint(uri)} and that it is not shutting down; a load balancer in front of it may have no healthy master behind it",
            MasterConnectionError.ConnectTimeout =>
                $"check that {endpoint} is reachable from here (a firewall or security group that drops packets, a VPN) and that the master is running",
            MasterConnectionError.NameNotResolved =>
                $"check the host name '{host}' in the master URL (DET_MASTER, det -m, DeterminedClientOptions.MasterUrl); a name known only inside the cluster needs the master's external address here",
            MasterConnectionError.NetworkUnreachable =>
                $"check this machine's network connection and its route to {host} (a VPN not connected, a down interface)",
            _ =>
                $"check the proxy settings (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY) or exempt the master with NO_PROXY={host}",
        };
        var dialled = tried is null ? string.Empty : $" Dialled: {tried}.";
        var message = $"Cannot reach the master at {uri.Scheme}://{endpoint} ({error}): {detail}.{dialled} Fix: {fix}";
        return new MasterConnectionException(error, host, message, fix, null, inner);
    }

    private static string PortHint(Uri uri) => uri.Port switch
    {
        8080 when TlsPolicy.IsHttps(uri) => " (8080 is a master's port without TLS; with TLS it listens on 8443)",
        8443 when !TlsPolicy.IsHttps(uri) => " (8443 is a master's TLS port: use https://)",
        8443 or 8080 => string.Empty,
        _ => TlsPolicy.IsHttps(uri) ? " (a master with TLS listens on 8443 by default)" : " (a master without TLS listens on 8080 by default)",
    };

    private static SocketError? SocketError(Exception exception)
    {
        for (var e = (Exception?)exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
            {
                return socket.SocketErrorCode;
            }
        }

        return null;
    }
}
