using System.Net;
using Determined.Testing;

namespace Determined.Security.Tests.Http;

/// <summary>
/// The certificate probe behind a proxy, in-process: it tunnels with HTTP CONNECT through the proxy
/// <see cref="HttpClient.DefaultProxy"/> names, sends Basic credentials only to an http:// proxy, and reports a refused
/// tunnel with its status and without the password. Changes the process-wide default proxy, so it runs alone.
/// </summary>
[Collection(ProcessWideTelemetry.Name)]
public sealed class ProbeProxyTests : IAsyncLifetime
{
    private readonly TestPki _pki = new();
    private readonly IWebProxy _original = HttpClient.DefaultProxy;
    private TlsTestServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);

    public async ValueTask DisposeAsync()
    {
        HttpClient.DefaultProxy = _original;
        await _server.DisposeAsync();
        _pki.Dispose();
    }

    [Fact]
    public async Task Probe_ThroughAProxyWithoutCredentials_TunnelsAndSeesTheChain()
    {
        await using var proxy = new ConnectProxy();
        HttpClient.DefaultProxy = new FixedProxy(new Uri($"http://127.0.0.1:{proxy.Port}"), null);

        var probe = await MasterProbe.ProbeAsync(_server.Uri);

        Assert.Null(probe.ErrorText);
        Assert.Equal(2, probe.PresentedChain.Count);
        Assert.Contains(_server.Uri.Authority, proxy.Targets);
    }

    [Fact]
    public async Task Probe_ThroughAnAuthenticatingProxy_SendsTheCredentials_AndAWrongPasswordIs407WithoutThePassword()
    {
        await using var proxy = new ConnectProxy("alice", "S3cretPass");
        HttpClient.DefaultProxy = new FixedProxy(new Uri($"http://127.0.0.1:{proxy.Port}"), new NetworkCredential("alice", "S3cretPass"));
        Assert.Null((await MasterProbe.ProbeAsync(_server.Uri)).ErrorText);

        HttpClient.DefaultProxy = new FixedProxy(new Uri($"http://127.0.0.1:{proxy.Port}"), new NetworkCredential("alice", "WrongPass"));
        var refused = await MasterProbe.ProbeAsync(_server.Uri);

        Assert.Empty(refused.PresentedChain);
        Assert.Contains("(HTTP 407); its credentials (in HTTPS_PROXY) were missing or wrong", refused.ErrorText, StringComparison.Ordinal);
        Assert.DoesNotContain("WrongPass", refused.ErrorText, StringComparison.Ordinal);
        Assert.Equal(1, proxy.Refused);
        Assert.Equal(MasterConnectionError.ProxyFailed, refused.Failure?.Error);
        Assert.DoesNotContain("WrongPass", refused.Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_OfAMasterOnTheDefaultPort_SendsConnectWithHostAndPort443()
    {
        // RFC 9110 9.3.6: CONNECT's target is host:port; .NET's own requests send master:443, and a strict proxy answers
        // 400 to a bare host. (Nothing listens on 443 here: the proxy refuses the tunnel, which is classified.)
        await using var proxy = new ConnectProxy();
        HttpClient.DefaultProxy = new FixedProxy(new Uri($"http://127.0.0.1:{proxy.Port}"), null);

        var probe = await MasterProbe.ProbeAsync(new Uri("https://127.0.0.1"));

        Assert.Contains("127.0.0.1:443", proxy.Targets);
        Assert.Equal(MasterConnectionError.ProxyFailed, probe.Failure?.Error);
    }

    [Theory]
    [InlineData("https")]
    [InlineData("socks5")]
    public async Task Probe_ProxyThatIsNotHttp_IsNeverSentTheCredentials(string scheme)
    {
        await using var proxy = new ConnectProxy("alice", "S3cretPass");
        HttpClient.DefaultProxy = new FixedProxy(new Uri($"{scheme}://127.0.0.1:{proxy.Port}"), new NetworkCredential("alice", "S3cretPass"));

        var probe = await MasterProbe.ProbeAsync(_server.Uri);

        Assert.Contains($"the proxy {scheme}://127.0.0.1:{proxy.Port} is not an http:// proxy", probe.ErrorText, StringComparison.Ordinal);
        Assert.Empty(proxy.Targets);
    }

    [Fact]
    public async Task PlainHttpAndTlsDetection_GoThroughTheProxyToo()
    {
        await using var proxy = new ConnectProxy();
        await using var plain = await TlsTestServer.StartAsync((System.Security.Cryptography.X509Certificates.X509Certificate2?)null);
        HttpClient.DefaultProxy = new FixedProxy(new Uri($"http://127.0.0.1:{proxy.Port}"), null);

        Assert.True(await MasterProbe.SpeaksPlainHttpAsync("127.0.0.1", plain.Port, CancellationToken.None));
        Assert.True(await MasterProbe.SpeaksTlsAsync("127.0.0.1", _server.Port, CancellationToken.None));
        Assert.Contains($"127.0.0.1:{plain.Port}", proxy.Targets);
        Assert.Contains($"127.0.0.1:{_server.Port}", proxy.Targets);
    }

    /// <summary>A proxy for every address, loopback included (WebProxy always bypasses loopback).</summary>
    private sealed class FixedProxy(Uri proxy, ICredentials? credentials) : IWebProxy
    {
        public ICredentials? Credentials { get; set; } = credentials;

        public Uri GetProxy(Uri destination) => proxy;

        public bool IsBypassed(Uri host) => false;
    }
}
