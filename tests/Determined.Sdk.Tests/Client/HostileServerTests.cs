using System.Diagnostics;
using System.Net;
using System.Text;
using Determined.Security;
using Determined.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Determined.Sdk.Tests.Client;

/// <summary>
/// The client against a master that misbehaves on purpose (a raw socket server on loopback): every call ends within its
/// deadline with bounded memory and a documented exception, and only idempotent requests are retried.
/// </summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class HostileServerTests
{
    // Hang guards: generous for a busy 2-core machine, far below what an unbounded client would take.
    private static readonly TimeSpan s_guard = TimeSpan.FromSeconds(30);

    private static DeterminedClient Client(Uri master, TimeSpan? timeout = null, long maxResponseBytes = 64L * 1024 * 1024, int maxRetries = 3, TimeSpan? retryDelay = null) =>
        DeterminedClient.Create(
            new DeterminedClientOptions
            {
                MasterUrl = master.ToString(),
                UseEnvironment = false,
                UseTokenStore = false,
                UseCertificateStore = false,
                Timeout = timeout ?? TimeSpan.FromSeconds(30),
                MaxResponseBytes = maxResponseBytes,
                MaxRetries = maxRetries,
                RetryDelay = retryDelay ?? TimeSpan.FromMilliseconds(5),
            },
            _ => null,
            null);

    private static async Task DripAsync(Stream stream, CancellationToken ct)
    {
        await HostileServer.WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", ct);
        while (true)
        {
            await HostileServer.WriteAsync(stream, "1\r\n \r\n", ct);
            await Task.Delay(300, ct);
        }
    }

    [Fact]
    public async Task SlowDrip_OneBytePerTick_EndsAtTheDeadlineNamingPhaseAndSetting()
    {
        await using var server = HostileServer.Start((_, _, stream, ct) => DripAsync(stream, ct));
        using var client = Client(server.Uri, timeout: TimeSpan.FromSeconds(2));
        var watch = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal("DeadlineExceeded", ex.Reason);
        Assert.True(ex.IsTransient);
        Assert.Contains("DeterminedClientOptions.Timeout", ex.Message, StringComparison.Ordinal);
        Assert.Contains("reading the response body", ex.Message, StringComparison.Ordinal);
        Assert.Contains(server.Uri.Authority, ex.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1.9), $"ended before the deadline: {watch.Elapsed}");
    }

    [Fact]
    public async Task NoAnswerAtAll_EndsAtTheDeadline_WithoutRetryingPastIt()
    {
        await using var server = HostileServer.Start((_, _, _, ct) => Task.Delay(Timeout.Infinite, ct));
        using var client = Client(server.Uri, timeout: TimeSpan.FromSeconds(2));

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal("DeadlineExceeded", ex.Reason);
        Assert.Contains("while waiting for the response headers: the request was sent", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TcpAcceptedButNoTlsAnswer_TheDeadlineNamesTheTlsHandshake()
    {
        await using var server = HostileServer.StartRaw((_, _, ct) => Task.Delay(Timeout.Infinite, ct));
        using var client = Client(new Uri($"https://127.0.0.1:{server.Uri.Port}"), timeout: TimeSpan.FromSeconds(2));

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal("DeadlineExceeded", ex.Reason);
        Assert.Contains("it timed out during the TLS handshake: the server accepted the connection but did not complete the handshake", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix: check that the port is the master's TLS port", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TcpConnectThatNeverCompletes_TheDeadlineNamesTheTcpConnection()
    {
        using var stalled = await StalledListener.StartAsync();
        using var client = Client(new Uri($"https://127.0.0.1:{stalled.Port}"), timeout: TimeSpan.FromSeconds(2));

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal("DeadlineExceeded", ex.Reason);
        Assert.Contains("it timed out during the TCP connection to the master", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EndlessChunked200_StopsAtMaxResponseBytes_WithBoundedMemory()
    {
        var chunk = "10000\r\n" + new string(' ', 0x10000) + "\r\n";
        await using var server = HostileServer.Start(async (_, _, stream, ct) =>
        {
            await HostileServer.WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", ct);
            while (true)
            {
                await HostileServer.WriteAsync(stream, chunk, ct);
            }
        });
        using var client = Client(server.Uri, maxResponseBytes: 1024 * 1024);
        var before = GC.GetTotalAllocatedBytes(precise: true);

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        // 1 MiB may be read; the JSON reader's buffer grows to hold it (doubling), so a few MiB are allocated. 128 MiB
        // (process-wide, other tests included) cannot be reached by a bounded read but is passed within a second by an
        // unbounded one on loopback.
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal("ResponseTooLarge", ex.Reason);
        Assert.Contains("MaxResponseBytes", ex.Message, StringComparison.Ordinal);
        Assert.True(allocated < 128L * 1024 * 1024, $"allocated {allocated / (1024 * 1024)} MiB reading a response limited to 1 MiB");
    }

    [Fact]
    public async Task Endless500_ErrorTextIsReadUpToACap_AndTheErrorIsImmediate()
    {
        var chunk = "4000\r\n" + new string('x', 0x4000) + "\r\n";
        await using var server = HostileServer.Start(async (_, _, stream, ct) =>
        {
            await HostileServer.WriteAsync(stream, "HTTP/1.1 500 Internal\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", ct);
            while (true)
            {
                await HostileServer.WriteAsync(stream, chunk, ct);
            }
        });
        using var client = Client(server.Uri, timeout: TimeSpan.FromSeconds(20));
        var watch = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(HttpStatusCode.InternalServerError, ex.StatusCode);
        Assert.True(ex.Message.Length < 2048, $"message of {ex.Message.Length} characters");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}: the error text is not bounded");
    }

    [Fact]
    public async Task BodyCutShort_IsAnHttpRequestException_NotARawIOException()
    {
        await using var server = HostileServer.Start(async (_, _, stream, ct) =>
        {
            await HostileServer.WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"version\":", ct);
            await stream.FlushAsync(ct);
            stream.Close();
        });
        using var client = Client(server.Uri, maxRetries: 0);

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(HttpRequestError.ResponseEnded, ex.HttpRequestError);
        Assert.Contains("broke off", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_UnderAnAppsStandardResilienceHandler_ReachesTheMasterOnce()
    {
        await using var server = HostileServer.Start((_, _, stream, ct) => HostileServer.RespondAsync(stream, 503, "{}", ct));
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(new DeterminedEnvironment(_ => null));
        builder.Services.AddDeterminedClient(o =>
        {
            o.MasterUrl = server.Uri.ToString();
            o.UseTokenStore = false;
            o.UseCertificateStore = false;
        }).AddStandardResilienceHandler(o => o.Retry.Delay = TimeSpan.FromMilliseconds(5)); // retries every method by default
        using var host = builder.Build();

        var ex = await Record.ExceptionAsync(() => host.Services.GetRequiredService<DeterminedClient>().LoginAsync("determined", string.Empty)).AsTask().WaitAsync(s_guard);

        Assert.True(ex is DeterminedApiException or HttpRequestException, ex?.ToString());
        Assert.Equal(1, server.Requests); // the body can be sent once: a login (or a command launch) is never executed twice
    }

    [Fact]
    public async Task MasterErrorTextWithTerminalEscapes_IsStrippedOfControlCharacters()
    {
        await using var server = HostileServer.Start((_, _, stream, ct) =>
            HostileServer.RespondAsync(stream, 400, "{\"error\":{\"code\":3,\"reason\":\"Bad\\u001b[2J\",\"error\":\"evil\\u001b[31m\\r\\nforged line\"}}", ct));
        using var client = Client(server.Uri);

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.DoesNotContain('\u001b', ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.Contains("forged line", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gateway504ThenOk_GetIsRetried_PostIsNot()
    {
        await using var server = HostileServer.Start((i, head, stream, ct) =>
            head.StartsWith("GET", StringComparison.Ordinal) && i > 0
                ? HostileServer.RespondAsync(stream, 200, "{\"version\":\"ok\"}", ct)
                : HostileServer.RespondAsync(stream, 504, "{}", ct));
        using var client = Client(server.Uri);

        var info = await client.GetInfoAsync().WaitAsync(s_guard);
        Assert.Equal("ok", info.Version);
        Assert.Equal(2, server.Requests);

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.LoginAsync("determined", string.Empty)).WaitAsync(s_guard);
        Assert.Equal(HttpStatusCode.GatewayTimeout, ex.StatusCode);
        Assert.Equal(3, server.Requests); // the POST was sent exactly once
    }

    [Fact]
    public async Task RetryAfter_IsHonoured()
    {
        await using var server = HostileServer.Start((i, _, stream, ct) => i == 0
            ? HostileServer.RespondAsync(stream, 503, "{}", ct, "Retry-After: 1\r\n")
            : HostileServer.RespondAsync(stream, 200, "{\"version\":\"ok\"}", ct));
        using var client = Client(server.Uri, retryDelay: TimeSpan.FromMilliseconds(1));
        var watch = Stopwatch.StartNew();

        await client.GetInfoAsync().WaitAsync(s_guard);

        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"retried after {watch.Elapsed}, before Retry-After: 1");
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task SendAsync_DoesNotDisposeTheCallersContent()
    {
        await using var server = HostileServer.Start((_, _, stream, ct) => HostileServer.RespondAsync(stream, 200, "{}", ct));
        using var client = Client(server.Uri);
        using var content = new StringContent("{\"a\":1}", Encoding.UTF8, "application/json");

        using var response = await client.SendAsync(HttpMethod.Post, "api/v1/anything", content).WaitAsync(s_guard);

        Assert.Equal("{\"a\":1}", await content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task StalledTlsHandshake_IsHandshakeFailed_SayingTheServerNeverAnswered()
    {
        await using var server = HostileServer.StartRaw((_, _, ct) => Task.Delay(Timeout.Infinite, ct));
        var https = new UriBuilder(server.Uri) { Scheme = "https" }.Uri;
        using var http = new HttpClient(new ShortConnectTimeoutFactory(new CertificateTrustResolver(TlsPolicy.Default)).CreateHandler(https));

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync(new Uri(https, "/info"))).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.HandshakeFailed, ex.Error);
        Assert.Contains("accepted the connection but never answered the TLS handshake", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, 4)] // the SDK's own layer: MaxRetries 3 = 4 attempts
    [InlineData(true, 4)] // the app's standard resilience handler replaces it: its 3 retries = 4 attempts, not 16
    public async Task AddDeterminedClient_WithOrWithoutStandardResilience_MakesTheDocumentedAttempts(bool standard, int attempts)
    {
        await using var server = HostileServer.Start((_, _, stream, ct) => HostileServer.RespondAsync(stream, 503, "{}", ct));
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(new DeterminedEnvironment(_ => null));
        var client = builder.Services.AddDeterminedClient(o =>
        {
            o.MasterUrl = server.Uri.ToString();
            o.UseTokenStore = false;
            o.UseCertificateStore = false;
            o.RetryDelay = TimeSpan.FromMilliseconds(5);
        });
        if (standard)
        {
            client.AddStandardResilienceHandler(o =>
            {
                o.Retry.Delay = TimeSpan.FromMilliseconds(5);
                o.Retry.UseJitter = false;
            });
        }

        using var host = builder.Build();
        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => host.Services.GetRequiredService<DeterminedClient>().GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ex.StatusCode);
        Assert.Equal(attempts, server.Requests);
    }

    private sealed class ShortConnectTimeoutFactory(CertificateTrustResolver resolver) : MasterHttpHandlerFactory(resolver)
    {
        protected override SocketsHttpHandler CreateSocketsHttpHandler()
        {
            var handler = base.CreateSocketsHttpHandler();
            handler.ConnectTimeout = TimeSpan.FromSeconds(2);
            return handler;
        }
    }
}
