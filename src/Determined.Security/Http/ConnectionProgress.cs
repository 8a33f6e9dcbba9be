using Determined.Security;

namespace Determined;

/// <summary>
/// How far a request to the master got, recorded in the request's options: the connection handler records the phase it entered (TCP
/// connect, TLS handshake, waiting for the response headers) and the endpoints it tried; the client reads them when its
/// deadline expires, and its retry layer decides from a failure whether the request can have reached the master.
/// </summary>
internal static class ConnectionProgress
{
    public const string Connecting = "the TCP connection";
    public const string TlsHandshake = "the TLS handshake";
    public const string WaitingForHeaders = "waiting for the response headers";

    private static readonly HttpRequestOptionsKey<string> s_phase = new("Determined.ConnectionPhase");
    private static readonly HttpRequestOptionsKey<string> s_tried = new("Determined.ConnectionTried");

    public static void Enter(HttpRequestMessage? request, string phase)
    {
        request?.Options.Set(s_phase, phase);
    }

    public static string? Phase(HttpRequestMessage request) => request.Options.TryGetValue(s_phase, out var phase) ? phase : null;

    /// <summary>Records the endpoints a connection was dialled to, e.g. <c>localhost:8443 (::1, 127.0.0.1)</c>.</summary>
    public static void Tried(HttpRequestMessage? request, string endpoints)
    {
        request?.Options.Set(s_tried, endpoints);
    }

    public static string? Tried(HttpRequestMessage request) => request.Options.TryGetValue(s_tried, out var tried) ? tried : null;

    /// <summary>A failure to reach the master at all (nothing to do with TLS or certificates).</summary>
    public static bool IsUnreachable(MasterConnectionError error) => error is MasterConnectionError.ConnectionRefused or MasterConnectionError.ConnectionClosed
        or MasterConnectionError.ConnectTimeout or MasterConnectionError.NameNotResolved or MasterConnectionError.NetworkUnreachable or MasterConnectionError.ProxyFailed;

    /// <summary>
    /// Whether a failed request can have reached the master: only when the connection ended after the request could be
    /// written (a plain-HTTP connection closed before the answer). A refused, unresolved, unreachable or timed-out
    /// connection, a proxy that refused the tunnel and a connection closed during the TLS handshake sent nothing.
    /// </summary>
    public static bool RequestMayHaveBeenSent(MasterConnectionException failure) =>
        !IsUnreachable(failure.Error) || (failure.Error == MasterConnectionError.ConnectionClosed && failure.InnerException is HttpRequestException { HttpRequestError: not (HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.ProxyTunnelError) });
}
