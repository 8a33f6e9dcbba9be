using System.Net;
using System.Net.Sockets;
using System.Text;
using Determined.Security;
using Determined.Testing;

namespace Determined.Sdk.Tests.Client;

/// <summary>
/// What an attack review of waiting for an unreachable master found, kept as tests (each failed before its fix): a POST
/// (with or without a body) that a master read before it crashed reaches it once, even when the platform's own resend of
/// a request on a dead pooled connection meets a refused port; a deadline after the request was sent never says "nothing
/// was sent"; the wait has a floor and, without a deadline, a bound; the proxy's password never reaches an exception; bidi
/// characters never reach a message; a failure through a proxy is never judged by direct probes.
/// </summary>
public sealed class RetrySafetyTests
{
    private static readonly TimeSpan s_guard = TimeSpan.FromSeconds(90);

    private static DeterminedClient Client(string url, TimeSpan timeout, int maxRetries = 3, TimeSpan? delay = null, Func<string, string?>? env = null) =>
        DeterminedClient.Create(
            new DeterminedClientOptions { UseTokenStore = false, UseCertificateStore = false, Timeout = timeout, MaxRetries = maxRetries, RetryDelay = delay ?? TimeSpan.FromMilliseconds(20) },
            env ?? (name => name == "DET_MASTER" ? url : null),
            null);

    [Theory]
    [InlineData(false, "no body")]
    [InlineData(true, "no body")]
    [InlineData(false, "logs")]
    [InlineData(false, "logout")]
    public async Task PostOnAPooledConnection_MasterCrashesAfterReadingIt_ItArrivesOnce(bool reset, string kind)
    {
        await using var master = new CrashingMaster(reset, TimeSpan.FromMilliseconds(1500));
        using var client = Client($"http://127.0.0.1:{master.Port}", TimeSpan.FromSeconds(20));
        await client.GetInfoAsync(); // a keep-alive connection for the POST to reuse

        var call = kind switch
        {
            "no body" => client.SendAsync(HttpMethod.Post, "api/v1/experiments/1/kill").ContinueWith(t => t.Result.Dispose(), TaskScheduler.Default),
            "logs" => client.PostTaskLogsAsync([new TaskLog { Log = "x" }]),
            _ => client.LogoutAsync(),
        };
        var error = await Record.ExceptionAsync(() => call).AsTask().WaitAsync(s_guard);

        Assert.Equal(1, master.Posts);
        Assert.True(error is null or AggregateException { InnerException: DeterminedException or HttpRequestException } or DeterminedException or HttpRequestException, error?.ToString());
    }

    [Fact]
    public async Task OverTls13_PostOnAPooledConnection_MasterCrashesAfterReadingIt_ItArrivesOnce()
    {
        var leaf = TestCertificates.CreateLeaf(null);
        using var pki = new TestPki();
        var certFile = pki.Write("self.pem", leaf.ExportCertificatePem());
        await using var master = new CrashingMaster(reset: false, TimeSpan.FromMilliseconds(1500), leaf);
        using var client = Client(string.Empty, TimeSpan.FromSeconds(20), env: name => name switch { "DET_MASTER" => $"https://127.0.0.1:{master.Port}", "DET_MASTER_CERT_FILE" => certFile, _ => null });
        await client.GetInfoAsync();

        await Record.ExceptionAsync(async () => (await client.SendAsync(HttpMethod.Post, "api/v1/experiments/1/kill")).Dispose()).AsTask().WaitAsync(s_guard);

        Assert.Equal(1, master.Posts);
    }

    [Fact]
    public async Task DeadlineAfterTheRequestWasSent_IsADeadlineWhileWaitingForTheAnswer_NotNothingWasSent()
    {
        var port = HostileServer.ClosedPort();
        using var client = Client($"http://127.0.0.1:{port}", TimeSpan.FromSeconds(4));
        var post = client.PostTaskLogsAsync([new TaskLog { Log = "launch" }]);
        await Task.Delay(1000);
        var posts = 0;
        await using var master = HostileServer.StartOnPort(port, async (_, head, _, ct) =>
        {
            if (head.StartsWith("POST", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref posts);
            }

            await Task.Delay(Timeout.Infinite, ct); // accepted, executing, slow to answer
        });

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => post).WaitAsync(s_guard);

        Assert.Equal(1, posts);
        Assert.Equal("DeadlineExceeded", ex.Reason);
        Assert.Contains("while waiting for the response headers: the request was sent", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("nothing was sent", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TinyRetryDelay_TheWaitForTheMasterHasAFloor()
    {
        var port = HostileServer.ClosedPort();
        using var logs = new FakeLoggerFactory();
        using var client = DeterminedClient.Create(new DeterminedClientOptions { UseTokenStore = false, UseCertificateStore = false, Timeout = TimeSpan.FromSeconds(2), MaxRetries = 3, RetryDelay = TimeSpan.FromTicks(1) }, name => name == "DET_MASTER" ? $"http://127.0.0.1:{port}" : null, logs);

        await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        var waits = logs.Records.Count(r => r.Id.Name == "WaitingForMaster");
        Assert.InRange(waits, 1, 40);
    }

    [Fact]
    public async Task InfiniteTimeout_AMasterThatIsDown_IsWaitedForOnlyMaxRetriesTimes()
    {
        using var client = Client($"http://127.0.0.1:{HostileServer.ClosedPort()}", Timeout.InfiniteTimeSpan, maxRetries: 2);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
    }

    [Fact]
    public async Task ProxyPassword_NeverInTheExceptionOrItsCauses()
    {
        await using var proxy = HostileServer.Start((_, _, stream, ct) => HostileServer.RespondAsync(stream, 407, "{}", ct, "Proxy-Authenticate: Basic realm=\"x\"\r\n"));
        var master = new Uri("https://master.example:8443");
        using var handler = new ProxyFactory(new WebProxy(new Uri($"http://alice:S3cretPw@127.0.0.1:{proxy.Uri.Port}"))).CreateHandler(master);
        using var http = new HttpClient(handler) { BaseAddress = master };

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync("/info")).WaitAsync(s_guard);

        Assert.Equal(MasterConnectionError.ProxyFailed, ex.Error);
        Assert.DoesNotContain("S3cretPw", ex.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpRequestError.ProxyTunnelError, Assert.IsType<HttpRequestException>(ex.InnerException).HttpRequestError);
    }

    [Fact]
    public async Task ThroughAProxy_AFailureIsNotJudgedByDirectProbes()
    {
        await using var master = HostileServer.StartRaw((_, _, _) => Task.CompletedTask); // closes every connection at once
        await using var proxy = new ConnectProxy();
        var uri = new Uri($"https://127.0.0.1:{master.Uri.Port}");
        using var handler = new ProxyFactory(new WebProxy(new Uri($"http://127.0.0.1:{proxy.Port}"))).CreateHandler(uri);
        using var http = new HttpClient(handler);

        await Assert.ThrowsAnyAsync<DeterminedException>(() => http.GetAsync(new Uri(uri, "/info"))).WaitAsync(s_guard);

        // Every connection the master saw came through the proxy (the plain-HTTP check uses the environment's proxy,
        // which is none here: it is the only direct one, as before).
        Assert.True(master.Requests <= proxy.Targets.Count + 1, $"{master.Requests} connections, {proxy.Targets.Count} through the proxy");
    }

    [Theory]
    [InlineData("http://127.0.0.1:{0}/\u202Egnp.exe")]
    [InlineData("http://127.0.0.1:{0}/\u2066x\u200B")]
    public async Task BidiAndZeroWidthCharacters_NeverReachTheMessage(string template)
    {
        var url = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, HostileServer.ClosedPort());
        using var client = Client(url, TimeSpan.FromSeconds(1), maxRetries: 0);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync()).WaitAsync(s_guard);

        Assert.DoesNotContain(ex.Message, c => char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format);
    }

    [Fact]
    public void Printable_FormatAndControlCharactersAndLoneSurrogates_AreNeutralised()
    {
        Assert.Equal("a b c d e", SafeText.Spaced("a\u202Eb\u200Bc\u001bd\ne"));
        Assert.Equal("x\uFFFDy\uFFFD", SafeText.Spaced("x\uD800y\uDC00"));
        Assert.Equal("ok \U0001F600", SafeText.Spaced("ok \U0001F600"));
    }

    private sealed class ProxyFactory(IWebProxy proxy) : MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default))
    {
        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler)
        {
            handler.Proxy = proxy;
            handler.UseProxy = true;
        }
    }

    /// <summary>
    /// A keep-alive master: answers GETs; the first POST it reads, it counts, then it crashes (the connection dropped or
    /// reset, nothing listening) and comes back on the same port after <c>down</c>.
    /// </summary>
    private sealed class CrashingMaster : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly bool _reset;
        private readonly TimeSpan _down;
        private readonly System.Security.Cryptography.X509Certificates.X509Certificate2? _certificate;
        private TcpListener _listener;
        private int _posts;

        public CrashingMaster(bool reset, TimeSpan down, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
        {
            _reset = reset;
            _down = down;
            _certificate = certificate;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = AcceptAsync(_listener);
        }

        public int Port { get; }

        public int Posts => Volatile.Read(ref _posts);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            _stop.Dispose();
        }

        private async Task AcceptAsync(TcpListener listener)
        {
            try
            {
                while (true)
                {
                    _ = ServeAsync(await listener.AcceptTcpClientAsync(_stop.Token));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // stopped (a crash, or the end of the test)
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            try
            {
                Stream stream = client.GetStream();
                if (_certificate is not null)
                {
                    var ssl = new System.Net.Security.SslStream(stream);
                    await ssl.AuthenticateAsServerAsync(new System.Net.Security.SslServerAuthenticationOptions { ServerCertificate = _certificate, EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls13 }, _stop.Token);
                    stream = ssl;
                }

                while (await ReadRequestHeadAsync(stream, _stop.Token) is { } head)
                {
                    if (head.StartsWith("POST", StringComparison.Ordinal) && Interlocked.Increment(ref _posts) == 1)
                    {
                        _listener.Stop();
                        if (_reset)
                        {
                            client.Client.LingerState = new LingerOption(true, 0);
                        }

                        client.Dispose();
                        _ = Task.Run(async () =>
                        {
                            await Task.Delay(_down, _stop.Token);
                            _listener = new TcpListener(IPAddress.Loopback, Port);
                            _listener.Start();
                            _ = AcceptAsync(_listener);
                        });
                        return;
                    }

                    var body = head.StartsWith("GET /info", StringComparison.Ordinal) ? """{"version":"0.38.0","master_id":"m","cluster_id":"c","cluster_name":"x"}""" : "{}";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"), _stop.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
            {
                // the client went away
            }
            finally
            {
                client.Dispose();
            }
        }

        /// <summary>One request's head, its body (Content-Length) read and dropped; null at the end of the connection.</summary>
        private static async Task<string?> ReadRequestHeadAsync(Stream stream, CancellationToken ct)
        {
            var head = new List<byte>();
            var one = new byte[1];
            while (head.Count < 64 * 1024)
            {
                if (await stream.ReadAsync(one, ct) == 0)
                {
                    return null;
                }

                head.Add(one[0]);
                if (head.Count >= 4 && head[^1] == '\n' && head[^2] == '\r' && head[^3] == '\n' && head[^4] == '\r')
                {
                    var text = Encoding.ASCII.GetString([.. head]);
                    var length = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) is { } line ? int.Parse(line[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture) : 0;
                    await stream.ReadExactlyAsync(new byte[length], ct);
                    return text;
                }
            }

            return null;
        }
    }
}

/// <summary>Secrets and display tricks in what reaches exceptions (issue: the last hardening gaps).</summary>
public sealed class MessageHygieneTests
{
    [Theory]
    [InlineData("https://master:8443/?access_token=S3cretTok")]
    [InlineData("https://master:8443/?password=S3cretTok")]
    [InlineData("https://master:8443/?x=1&auth=S3cretTok")]
    [InlineData("https://user:S3cretTok@master:8443")]
    public void ConfigurationErrorsNamingTheUrl_NeverRepeatASecret(string url)
    {
        var ex = Assert.Throws<DeterminedConfigurationException>(() => DeterminedClient.Create(new DeterminedClientOptions { MasterUrl = url, UseTokenStore = false }, _ => null, null));

        Assert.DoesNotContain("S3cretTok", ex.ToString(), StringComparison.Ordinal);
        Assert.Contains("master", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MastersErrorText_WithBidiAndZeroWidthCharacters_ReachesTheExceptionNeutralised()
    {
        await using var server = HostileServer.Start((_, _, stream, ct) =>
            HostileServer.RespondAsync(stream, 400, """{"error":{"code":3,"reason":"Invalid\u2066Argument","error":"bad \u202Etxt.exe\u200B value"}}""", ct));
        using var client = DeterminedClient.Create(new DeterminedClientOptions { MasterUrl = server.Uri.ToString(), UseTokenStore = false, UseCertificateStore = false, MaxRetries = 0 }, _ => null, null);

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetInfoAsync());

        Assert.DoesNotContain(ex.Message, c => char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format);
        Assert.True(ex.Message.Contains("bad  txt.exe  value", StringComparison.Ordinal), ex.Message);
    }
}
