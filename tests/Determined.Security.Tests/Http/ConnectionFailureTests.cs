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
        // A listener that never accepts, with its accept queue full: Linux drops further SYNs, so the connect times out.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                using var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                try
                {
                    await filler.ConnectAsync(IPAddress.Loopback, port, quick.Token);
                }
                catch (OperationCanceledException)
                {
                    break; // the queue is full
                }
            }

            var master = new Uri($"https://127.0.0.1:{port}");
            using var http = new HttpClient(new ShortConnectTimeout().CreateHandler(master)) { BaseAddress = master };

            var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync("/info")).WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal(MasterConnectionError.ConnectTimeout, ex.Error);
            Assert.Contains($"Dialled: 127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
            Assert.True(ex.IsTransient);
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
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

    private sealed class ShortConnectTimeout() : MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default))
    {
        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler) => handler.ConnectTimeout = TimeSpan.FromSeconds(1);
    }
}
