using System.Net;
using System.Net.Sockets;
using Determined.Testing;

namespace Determined.Security.Tests.Http;

/// <summary>
/// The classification of every way of not reaching a master: the socket errors the platform reports mapped to their
/// class (each with its own detail and fix), connection-phase failures only (a reset after the request was sent is not
/// "unreachable"), the proxy named when every connection goes through it; and for real on loopback: a connect that
/// times out (a listener whose accept queue is full drops the SYN) and a probe of a closed port.
/// </summary>
public sealed class ConnectionFailureTests
{
    private static readonly Uri Master = new("https://master.example:8443");

    public static TheoryData<SocketError, MasterConnectionError> SocketErrors => new()
    {
        { SocketError.ConnectionRefused, MasterConnectionError.ConnectionRefused },
        { SocketError.HostNotFound, MasterConnectionError.NameNotResolved },
        { SocketError.TryAgain, MasterConnectionError.NameNotResolved },
        { SocketError.NoData, MasterConnectionError.NameNotResolved },
        { SocketError.NetworkUnreachable, MasterConnectionError.NetworkUnreachable },
        { SocketError.HostUnreachable, MasterConnectionError.NetworkUnreachable },
        { SocketError.NetworkDown, MasterConnectionError.NetworkUnreachable },
        { SocketError.TimedOut, MasterConnectionError.ConnectTimeout },
        { SocketError.ConnectionReset, MasterConnectionError.ConnectionClosed },
        { SocketError.ConnectionAborted, MasterConnectionError.ConnectionClosed },
    };

    [Theory]
    [MemberData(nameof(SocketErrors))]
    public void Classify_ConnectionPhaseSocketError_IsItsClass_WithTheEndpointAndAFix(SocketError socketError, MasterConnectionError expected)
    {
        var failure = new HttpRequestException(HttpRequestError.ConnectionError, "platform text", new SocketException((int)socketError));

        var (error, detail) = ConnectionFailures.Classify(failure, proxy: null)!.Value;
        var ex = ConnectionFailures.Unreachable(Master, error, "master.example:8443, resolved to 10.0.0.5", detail, failure);

        Assert.Equal(expected, error);
        Assert.Equal(expected, ex.Error);
        Assert.StartsWith($"Cannot reach the master at https://master.example:8443 ({expected}): ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Dialled: master.example:8443, resolved to 10.0.0.5.", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("Fix: " + ex.SuggestedFix, ex.Message, StringComparison.Ordinal);
        Assert.Equal(expected is not MasterConnectionError.NameNotResolved, ex.IsTransient);
        Assert.Same(failure, ex.InnerException);
    }

    [Fact]
    public void Classify_ThroughAProxy_AConnectionFailureIsTheProxys_ATunnelRefusalNamesItsStatus()
    {
        var proxy = new Uri("http://proxy.internal:3128");
        var refused = new HttpRequestException(HttpRequestError.ConnectionError, "x", new SocketException((int)SocketError.ConnectionRefused));
        var tunnel = new HttpRequestException(HttpRequestError.ProxyTunnelError, "x", null, HttpStatusCode.ProxyAuthenticationRequired);

        Assert.Equal((MasterConnectionError.ProxyFailed, "the proxy http://proxy.internal:3128 could not be reached: the connection was refused: nothing listens on that port"), ConnectionFailures.Classify(refused, proxy));
        var (error, detail) = ConnectionFailures.Classify(tunnel, proxy)!.Value;
        Assert.Equal(MasterConnectionError.ProxyFailed, error);
        Assert.Contains("HTTP 407 (proxy authentication required", detail, StringComparison.Ordinal);
        Assert.False(ConnectionFailures.Unreachable(Master, error, null, detail, tunnel).IsTransient);
    }

    [Theory]
    [InlineData(HttpRequestError.ResponseEnded)]
    [InlineData(HttpRequestError.Unknown)]
    [InlineData(HttpRequestError.SecureConnectionError)]
    public void Classify_AResetAfterTheConnectionWasMade_IsNotUnreachable(HttpRequestError phase)
    {
        var reset = new HttpRequestException(phase, "x", new IOException("reset", new SocketException((int)SocketError.ConnectionReset)));

        Assert.Null(ConnectionFailures.Classify(reset, proxy: null));
    }

    [Fact]
    public void Classify_EdgeShapes_SocketErrorWithoutHttpWrapper_ResolutionWithoutSocket_NoSocketAtAll_TunnelWithoutStatus()
    {
        Assert.Equal(MasterConnectionError.ConnectionRefused, ConnectionFailures.Classify(new SocketException((int)SocketError.ConnectionRefused), proxy: null)?.Error);
        Assert.Equal(MasterConnectionError.NameNotResolved, ConnectionFailures.Classify(new HttpRequestException(HttpRequestError.NameResolutionError, "no such host"), proxy: null)?.Error);
        Assert.Null(ConnectionFailures.Classify(new HttpRequestException(HttpRequestError.ConnectionError, "x", new IOException("no socket error under it")), proxy: null));
        Assert.Null(ConnectionFailures.Classify(new SocketException((int)SocketError.AccessDenied), proxy: null));
        var (error, detail) = ConnectionFailures.Classify(new HttpRequestException(HttpRequestError.ProxyTunnelError, "x"), proxy: null)!.Value;
        Assert.Equal(MasterConnectionError.ProxyFailed, error);
        Assert.Equal("the proxy refused to open a tunnel to the master", detail);
        Assert.EndsWith("with HTTP 502", ConnectionFailures.Classify(new HttpRequestException(HttpRequestError.ProxyTunnelError, "x", null, HttpStatusCode.BadGateway), proxy: null)!.Value.Detail, StringComparison.Ordinal);

        // Through a proxy, a reset connection is still the master's side closing (the tunnel was open); no endpoint known: no "Dialled".
        var reset = new HttpRequestException(HttpRequestError.ConnectionError, "x", new SocketException((int)SocketError.ConnectionReset));
        Assert.Equal(MasterConnectionError.ConnectionClosed, ConnectionFailures.Classify(reset, new Uri("http://proxy:3128"))?.Error);
        Assert.DoesNotContain("Dialled", ConnectionFailures.Unreachable(new Uri("https://[fe80::1]:8443"), MasterConnectionError.ConnectionClosed, null, "closed", null).Message, StringComparison.Ordinal);
        Assert.StartsWith("Cannot reach the master at https://[fe80::1]:8443 ", ConnectionFailures.Unreachable(new Uri("https://[fe80::1]:8443"), MasterConnectionError.ConnectionClosed, null, "closed", null).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://10.0.0.5:8443", "")]
    [InlineData("http://10.0.0.5:8080", "")]
    public void ConnectionRefused_OnTheMastersDefaultPort_NoPortHint(string url, string hint)
    {
        var fix = ConnectionFailures.Unreachable(new Uri(url), MasterConnectionError.ConnectionRefused, null, "refused", null).SuggestedFix;

        Assert.Contains($"listening on {new Uri(url).Authority}{hint}, and", fix, StringComparison.Ordinal);
    }

    public static TheoryData<bool, HttpRequestError?, MasterConnectionError, bool> SentCases => new()
    {
        // unreachable?, inner category, error, may the request have reached the master
        { true, HttpRequestError.ConnectionError, MasterConnectionError.ConnectionRefused, false },
        { true, HttpRequestError.ConnectionError, MasterConnectionError.ConnectionClosed, false },
        { true, HttpRequestError.SecureConnectionError, MasterConnectionError.ConnectionClosed, false },
        { true, HttpRequestError.NameResolutionError, MasterConnectionError.ConnectionClosed, false },
        { true, HttpRequestError.ProxyTunnelError, MasterConnectionError.ConnectionClosed, false },
        { true, HttpRequestError.ResponseEnded, MasterConnectionError.ConnectionClosed, true },
        { true, null, MasterConnectionError.ConnectionClosed, false },
        { false, HttpRequestError.SecureConnectionError, MasterConnectionError.HandshakeFailed, true },
    };

    [Theory]
    [MemberData(nameof(SentCases))]
    public void RequestMayHaveBeenSent_OnlyWhenAConnectionEndedAfterTheRequestCouldBeWritten(bool unreachable, HttpRequestError? inner, MasterConnectionError error, bool mayHaveBeenSent)
    {
        var failure = new MasterConnectionException(error, "h", "m", "f", null, inner is { } category ? new HttpRequestException(category, "x") : new IOException("x"));

        Assert.Equal(unreachable, ConnectionProgress.IsUnreachable(error));
        Assert.Equal(mayHaveBeenSent, ConnectionProgress.RequestMayHaveBeenSent(failure));
    }

    [Fact]
    public void ConnectionProgress_WithoutARequest_RecordsNothing_AndReadsNullWhenNothingWasRecorded()
    {
        ConnectionProgress.Enter(null, ConnectionProgress.Connecting);
        ConnectionProgress.Tried(null, "x:1");
        using var request = new HttpRequestMessage();

        Assert.Null(ConnectionProgress.Phase(request));
        Assert.Null(ConnectionProgress.Tried(request));
        ConnectionProgress.Enter(request, ConnectionProgress.TlsHandshake);
        ConnectionProgress.Tried(request, "x:1");
        Assert.Equal(ConnectionProgress.TlsHandshake, ConnectionProgress.Phase(request));
        Assert.Equal("x:1", ConnectionProgress.Tried(request));
    }

    [Fact]
    public async Task ListenerThatResets_IsSeenAsClosingAtOnce_ATlsServerIsNot()
    {
        using var resetting = new TcpListener(IPAddress.Loopback, 0);
        resetting.Start();
        var port = ((IPEndPoint)resetting.LocalEndpoint).Port;
        var accept = Task.Run(async () =>
        {
            using var socket = await resetting.AcceptSocketAsync();
            socket.LingerState = new LingerOption(true, 0); // close with RST
        });

        Assert.True(await MasterProbe.ClosesAtOnceAsync("127.0.0.1", port, CancellationToken.None));
        await accept;

        using var pki = new TestPki();
        await using var tls = await TlsTestServer.StartAsync(pki.Leaf, pki.Intermediate);
        Assert.False(await MasterProbe.ClosesAtOnceAsync("127.0.0.1", tls.Port, CancellationToken.None));
        Assert.False(await MasterProbe.ClosesAtOnceAsync("127.0.0.1", HostileServer.ClosedPort(), CancellationToken.None));
    }

    [Fact]
    public async Task MasterThatDiesWhileAnsweringOnAPooledConnection_IsConnectionClosed_MarkedAsPossiblySent()
    {
        // The first request opens a keep-alive connection; the second is read by the server, which then resets it.
        await using var server = HostileServer.Start(async (i, _, stream, ct) =>
        {
            if (i == 0)
            {
                await HostileServer.RespondAsync(stream, 200, "{}", ct);
            }
            else
            {
                await stream.DisposeAsync(); // read, then the connection is gone
            }
        });
        var master = new Uri($"http://127.0.0.1:{server.Uri.Port}");
        using var http = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default)).CreateHandler(master)) { BaseAddress = master };
        (await http.GetAsync("/info")).Dispose();

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.PostAsync("/api/v1/commands", new StringContent("{}"))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(MasterConnectionError.ConnectionClosed, ex.Error);
        Assert.True(ConnectionProgress.RequestMayHaveBeenSent(ex));
        Assert.Contains("the request may have reached it", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandlerWithoutProxy_AClosedPortIsRefused_NotAProxyFailure()
    {
        var master = new Uri($"https://127.0.0.1:{HostileServer.ClosedPort()}");
        using var http = new HttpClient(new NoProxy().CreateHandler(master)) { BaseAddress = master };

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync("/info")).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
    }

    [Theory]
    [InlineData("https://10.0.0.5:8080", "8080 is a master's port without TLS; with TLS it listens on 8443")]
    [InlineData("http://10.0.0.5:8443", "8443 is a master's TLS port: use https://")]
    [InlineData("https://10.0.0.5:9999", "a master with TLS listens on 8443 by default")]
    [InlineData("http://10.0.0.5:9999", "a master without TLS listens on 8080 by default")]
    public void ConnectionRefused_TheFixNamesTheMastersDefaultPorts(string url, string hint)
    {
        var ex = ConnectionFailures.Unreachable(new Uri(url), MasterConnectionError.ConnectionRefused, null, "refused", null);

        Assert.Contains(hint, ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectThatTimesOut_IsConnectTimeout_NotAHandshakeStall()
    {
        using var stalled = await StalledListener.StartAsync();
        var master = new Uri($"https://127.0.0.1:{stalled.Port}");
        using var http = new HttpClient(new ShortConnectTimeout().CreateHandler(master)) { BaseAddress = master };

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync("/info")).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(MasterConnectionError.ConnectTimeout, ex.Error);
        Assert.Contains($"Dialled: 127.0.0.1:{stalled.Port}", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.IsTransient);
    }

    [Fact]
    public async Task Probe_OfAClosedPort_ReportsConnectionRefused_ItsMessageAndFix()
    {
        var uri = new Uri($"https://127.0.0.1:{HostileServer.ClosedPort()}");

        var probe = await MasterProbe.ProbeAsync(uri);

        Assert.False(probe.SpeaksTls);
        Assert.NotNull(probe.Failure);
        Assert.Equal(MasterConnectionError.ConnectionRefused, probe.Failure.Error);
        Assert.Contains(uri.GetLeftPart(UriPartial.Authority), probe.Failure.Message, StringComparison.Ordinal);
    }

    private sealed class NoProxy() : MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default))
    {
        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler) => handler.UseProxy = false;
    }

    private sealed class ShortConnectTimeout() : MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default))
    {
        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler) => handler.ConnectTimeout = TimeSpan.FromSeconds(1);
    }
}
