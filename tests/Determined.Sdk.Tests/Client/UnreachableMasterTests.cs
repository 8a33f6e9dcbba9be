using System.Net;
using Determined.Security;
using Determined.Testing;

namespace Determined.Sdk.Tests.Client;

/// <summary>
/// Every way of not reaching a master (nothing listens, a listener that closes at once, a name that does not resolve, a
/// proxy that is down or refuses the tunnel, plain HTTP on https:// and the reverse) ends in a classified
/// <see cref="DeterminedException"/> whose message names the address, where it came from and the fix, through
/// <see cref="DeterminedClient"/> and through the handler used directly by an <see cref="HttpClient"/>. A master that
/// comes up within the call's Timeout is waited for; a POST is never sent twice.
/// </summary>
public sealed class UnreachableMasterTests
{
    private static readonly TimeSpan s_guard = TimeSpan.FromSeconds(120);

    /// <summary>A client configured as a task is: only DET_MASTER, nothing else.</summary>
    private static DeterminedClient FromDetMaster(string url, TimeSpan timeout, int maxRetries = 3) =>
        DeterminedClient.Create(
            new DeterminedClientOptions { UseTokenStore = false, UseCertificateStore = false, Timeout = timeout, MaxRetries = maxRetries, RetryDelay = TimeSpan.FromMilliseconds(20) },
            name => name == "DET_MASTER" ? url : null,
            null);

    private static void AssertNamesAddressSourceAndFix(DeterminedException ex, string url, string source)
    {
        Assert.Contains(url.TrimEnd('/'), ex.Message, StringComparison.Ordinal);
        Assert.Contains(source, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix: ", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> Schemes => ["https", "http"];

    [Theory]
    [MemberData(nameof(Schemes))]
    public async Task NothingListens_IsConnectionRefused_NamingTheUrlItsSourceAndTheFix_Transient(string scheme)
    {
        var url = $"{scheme}://127.0.0.1:{HostileServer.ClosedPort()}";
        using var client = FromDetMaster(url, TimeSpan.FromSeconds(1));

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
        Assert.True(ex.IsTransient);
        AssertNamesAddressSourceAndFix(ex, url, "comes from the environment variable DET_MASTER");
        Assert.Contains("nothing listens on that port", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Kept trying for 1 s", ex.Message, StringComparison.Ordinal);
        Assert.Contains(scheme == "https" ? "a master with TLS listens on 8443" : "a master without TLS listens on 8080", ex.SuggestedFix, StringComparison.Ordinal);
        Assert.Contains("DET_MASTER", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public async Task ListenerThatClosesAtOnce_IsConnectionClosed(string scheme)
    {
        await using var server = HostileServer.StartRaw((_, _, _) => Task.CompletedTask);
        var url = $"{scheme}://127.0.0.1:{server.Uri.Port}";
        using var client = FromDetMaster(url, TimeSpan.FromSeconds(2), maxRetries: 0);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.ConnectionClosed, ex.Error);
        Assert.True(ex.IsTransient);
        AssertNamesAddressSourceAndFix(ex, url, "DET_MASTER");
        Assert.Contains(scheme == "https" ? "closed it without answering the TLS handshake" : "closes them at once", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnresolvableName_IsNameNotResolved_NotTransient_NotRetriedUntilTheDeadline()
    {
        const string url = "https://nonexistent.invalid:8443";
        using var client = FromDetMaster(url, TimeSpan.FromSeconds(60), maxRetries: 1);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.NameNotResolved, ex.Error);
        Assert.False(ex.IsTransient);
        AssertNamesAddressSourceAndFix(ex, url, "DET_MASTER");
        Assert.Contains("'nonexistent.invalid'", ex.SuggestedFix, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(50), $"an unresolvable name was retried for {clock.Elapsed}");
    }

    [Fact]
    public async Task DefaultAddress_TheMessageSaysItIsTheDefault()
    {
        using var client = DeterminedClient.Create(new DeterminedClientOptions { UseTokenStore = false, UseCertificateStore = false, Timeout = TimeSpan.FromSeconds(1), MaxRetries = 0 }, _ => null, null);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.True(ConnectionErrorOfAnUnreachableLocalhost(ex.Error), $"{ex.Error}: {ex.Message}");
        Assert.Contains("comes from the default localhost:8080", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Whatever localhost:8080 is on a test machine, it is not a master: refused (or closed, if something else listens there).</summary>
    private static bool ConnectionErrorOfAnUnreachableLocalhost(MasterConnectionError error) =>
        error is MasterConnectionError.ConnectionRefused or MasterConnectionError.ConnectionClosed;

    [Fact]
    public async Task ProxyThatIsDown_OrRefusesTheTunnel_IsProxyFailed_NamingTheProxy()
    {
        var closedProxy = HostileServer.ClosedPort();
        await using var refusing = HostileServer.Start((_, _, stream, ct) => HostileServer.RespondAsync(stream, 403, "{}", ct));
        foreach (var (proxy, expect) in new[] { ($"http://127.0.0.1:{closedProxy}", $"the proxy http://127.0.0.1:{closedProxy} could not be reached: the connection was refused"), (refusing.Uri.ToString(), "refused to open a tunnel to the master with HTTP 403") })
        {
            var master = new Uri("https://master.example:8443");
            using var handler = new ProxyFactory(new Uri(proxy)).CreateHandler(master);
            using var http = new HttpClient(handler) { BaseAddress = master };

            var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync("/info")).WaitAsync(s_guard);

            Assert.True(ex.Error == MasterConnectionError.ProxyFailed, ex.Message);
            Assert.Contains(expect, ex.Message, StringComparison.Ordinal);
            Assert.Contains("NO_PROXY=master.example", ex.SuggestedFix, StringComparison.Ordinal);
            Assert.Contains("https://master.example:8443", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task HandlerUsedDirectly_ClosedPort_IsConnectionRefused_NamingWhatWasDialled()
    {
        var port = HostileServer.ClosedPort();
        var master = new Uri($"https://localhost:{port}");
        using var http = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default)).CreateHandler(master)) { BaseAddress = master };

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync("/info")).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
        Assert.Contains($"Dialled: localhost:{port}, resolved to ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttpOnHttpsAndTlsOnHttp_AreClassified_WithTheFix()
    {
        await using var plain = await TlsTestServer.StartAsync((System.Security.Cryptography.X509Certificates.X509Certificate2?)null);
        var https = $"https://127.0.0.1:{plain.Port}";
        using var toPlain = FromDetMaster(https, TimeSpan.FromSeconds(10));
        var a = await Assert.ThrowsAsync<MasterConnectionException>(() => toPlain.GetInfoAsync()).WaitAsync(s_guard);
        Assert.Equal(MasterConnectionError.PlaintextServer, a.Error);
        Assert.Contains("Fix: ", a.Message, StringComparison.Ordinal);

        using var pki = new TestPki();
        var leaf = pki.CiLeaf;
        await using var tls = await TlsTestServer.StartAsync(leaf, pki.Intermediate);
        var http = $"http://127.0.0.1:{tls.Port}";
        using var toTls = FromDetMaster(http, TimeSpan.FromSeconds(10));
        var b = await Assert.ThrowsAsync<MasterConnectionException>(() => toTls.GetInfoAsync()).WaitAsync(s_guard);
        Assert.Equal(MasterConnectionError.TlsServerOnPlaintextUrl, b.Error);
        Assert.Contains($"use https://127.0.0.1:{tls.Port}", b.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MasterThatComesUpWithinTheTimeout_IdempotentCallAndPost_SucceedOnce()
    {
        var port = HostileServer.ClosedPort();
        using var client = FromDetMaster($"http://127.0.0.1:{port}", TimeSpan.FromSeconds(60));
        var get = client.GetInfoAsync();
        var post = client.PostTaskLogsAsync([new TaskLog { Log = "hello" }]);
        await Task.Delay(1500);
        Assert.False(get.IsCompleted || post.IsCompleted, "the calls ended before the master came up");
        var posts = 0;
        await using var master = HostileServer.StartOnPort(port, (_, head, stream, ct) =>
        {
            if (head.StartsWith("POST", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref posts);
                return HostileServer.RespondAsync(stream, 200, "{}", ct);
            }

            return HostileServer.RespondAsync(stream, 200, """{"version":"0.38.0","master_id":"m","cluster_id":"c","cluster_name":"late"}""", ct);
        });

        Assert.Equal("late", (await get.WaitAsync(s_guard)).ClusterName);
        await post.WaitAsync(s_guard);
        Assert.Equal(1, posts);
    }

    [Fact]
    public async Task ConnectionClosedAfterThePostWasSent_IsNeverSentAgain()
    {
        await using var server = HostileServer.Start((_, _, stream, _) => stream.DisposeAsync().AsTask()); // reads the request, then closes
        using var client = FromDetMaster(server.Uri.ToString(), TimeSpan.FromSeconds(30));

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.PostTaskLogsAsync([new TaskLog { Log = "once" }])).WaitAsync(s_guard);

        Assert.Equal(1, server.Requests);
        Assert.Equal(MasterConnectionError.ConnectionClosed, ex.Error);
        Assert.Contains("the request may have reached it", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxRetriesZero_FailsAtOnce()
    {
        using var client = FromDetMaster($"https://127.0.0.1:{HostileServer.ClosedPort()}", TimeSpan.FromSeconds(60), maxRetries: 0);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
        Assert.DoesNotContain("Kept trying", ex.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    private sealed class ProxyFactory(Uri proxy) : MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default))
    {
        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler)
        {
            handler.Proxy = new WebProxy(proxy);
            handler.UseProxy = true;
        }
    }
}
