using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;
using Determined.Security;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>The sample master on every point of REFERENCE.md §1 and §5 (issue: sample master host).</summary>
public sealed class MasterHostTests : IAsyncLifetime
{
    private readonly Cluster _pki = new(dnsOnlyName: false);
    private MasterHost _master = null!;

    public async ValueTask InitializeAsync()
    {
        _master = await MasterHost.StartAsync(
            new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = _pki.MasterCertFile, TlsKey = _pki.MasterKeyFile },
            _ => null,
            logging: l => { });
    }

    public async ValueTask DisposeAsync()
    {
        await _master.DisposeAsync();
        await _pki.DisposeAsync();
    }

    private HttpClient Client(Version? version = null)
    {
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.CaFile })));
        return new HttpClient(factory.CreateHandler(_master.Uri)) { BaseAddress = _master.Uri, DefaultRequestVersion = version ?? HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
    }

    [Fact]
    public void OpenSslShowCerts_SeesTheCertificateFileChainInOrder()
    {
        var output = TestCertificates.Run(_pki.Directory, "s_client", "-connect", $"127.0.0.1:{_master.Uri.Port}", "-showcerts", "-servername", "localhost");
        var served = new X509Certificate2Collection();
        served.ImportFromPem(output);
        var file = new X509Certificate2Collection();
        file.ImportFromPem(File.ReadAllText(_pki.MasterCertFile));

        Assert.Equal(file.Select(c => c.Thumbprint), served.Select(c => c.Thumbprint));
    }

    [Fact]
    public async Task CertificateFileWithRoot_RootIsNotSentByDotNet_AndTheMasterSaysSo()
    {
        // Upstream's Go master sends every certificate of the file, root included. .NET on Linux trims a self-signed root
        // from SslStreamCertificateContext (TrimRootCertificate = true in SslStreamCertificateContext.Linux.cs): this test
        // pins that behaviour, so the README's compatibility note is revisited when the runtime changes.
        await using var cluster = new Cluster(dnsOnlyName: false);
        await File.AppendAllTextAsync(cluster.MasterCertFile, await File.ReadAllTextAsync(cluster.CaFile));
        var file = new X509Certificate2Collection();
        file.ImportFromPem(await File.ReadAllTextAsync(cluster.MasterCertFile));
        Assert.Equal(3, file.Count);

        await cluster.StartMasterAsync(tls: true);
        var output = TestCertificates.Run(cluster.Directory, "s_client", "-connect", $"127.0.0.1:{cluster.MasterUri.Port}", "-showcerts", "-servername", "localhost");
        var served = new X509Certificate2Collection();
        served.ImportFromPem(output);

        Assert.Equal(file.Take(2).Select(c => c.Thumbprint), served.Select(c => c.Thumbprint));
        await cluster.Master!.WaitForLineAsync("ends with the root 'CN=E2E Root CA', which .NET does not send");
    }

    [Fact]
    public void Tls11_IsRefused()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => TestCertificates.Run(_pki.Directory, "s_client", "-connect", $"127.0.0.1:{_master.Uri.Port}", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"));
        Assert.Matches("alert|no protocols available|unsupported protocol|wrong version", ex.Message);
    }

    [Fact]
    public async Task Http2_IsNegotiatedWithAlpn_AndHttp11StillWorks()
    {
        using var h2 = Client(HttpVersion.Version20);
        using var h1 = Client(HttpVersion.Version11);

        using var r2 = await h2.GetAsync("/info");
        using var r1 = await h1.GetAsync("/info");

        Assert.Equal(HttpVersion.Version20, r2.Version);
        Assert.Equal(HttpVersion.Version11, r1.Version);
    }

    [Fact]
    public void Curl_WithCaCert_GetsInfo()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "-s", "--fail", "--cacert", _pki.CaFile, $"https://localhost:{_master.Uri.Port}/info" })
        {
            psi.ArgumentList.Add(a);
        }

        using var curl = ChildProcess.WithInput(System.Diagnostics.Process.Start(psi)!);
        var body = curl.StandardOutput.ReadToEnd();
        Assert.True(curl.WaitForExit(30_000));
        Assert.Equal(0, curl.ExitCode);
        var info = JsonNode.Parse(body)!;
        Assert.Equal(MasterHost.Version, (string?)info["version"]);
        Assert.NotNull(info["master_id"]);
        Assert.NotNull(info["cluster_id"]);
        Assert.NotNull(info["telemetry"]!["enabled"]);
        Assert.Equal(["enabled", "otel_enabled", "otel_endpoint"], info["telemetry"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal)); // Go's TelemetryInfo
    }

    [Fact]
    public async Task PythonClient_MimickingUpstream_LogsInReadsMasterAndMe_AndLogsOut()
    {
        // What upstream's Python client does (harness/determined/common/api: salt_and_hash, bindings' from_json required
        // fields), with the standard library only, against the sample master over verified TLS.
        const string Script = """
            import hashlib, json, ssl, sys, urllib.request
            base, cafile = sys.argv[1], sys.argv[2]
            ctx = ssl.create_default_context(cafile=cafile)
            def call(method, path, body=None, token=None):
                req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
                req.add_header("Content-Type", "application/json")
                if token:
                    req.add_header("Authorization", "Bearer " + token)
                with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                    return json.loads(r.read())
            def salt_and_hash(p):
                return "" if p == "" else hashlib.sha512(("GubPEmmotfiK9TMD6Zdw" + p).encode()).hexdigest()
            login = call("POST", "/api/v1/auth/login", {"username": "determined", "password": salt_and_hash(""), "isHashed": True})
            for k in ("token", "user"): login[k]
            for k in ("active", "admin", "username"): login["user"][k]
            master = call("GET", "/api/v1/master", token=login["token"])
            for k in ("clusterId", "clusterName", "hasCustomLogo", "masterId", "strictJobQueueControl", "version"): master[k]
            me = call("GET", "/api/v1/me", token=login["token"])
            for k in ("active", "admin", "username"): me["user"][k]
            call("POST", "/api/v1/auth/logout", {}, token=login["token"])
            try:
                call("GET", "/api/v1/me", token=login["token"])
                print("token still valid after logout")
            except urllib.error.HTTPError as e:
                print("ok", me["user"]["username"], e.code)
            """;
        var run = await ChildProcess.RunAsync("python3", ["-c", Script, $"https://localhost:{_master.Uri.Port}", _pki.CaFile], timeout: TimeSpan.FromMinutes(2));

        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal("ok determined 401", run.Stdout.Trim());
    }

    [Fact]
    public async Task TwentyConcurrentOneMegabyteLogins_AreRefusedAt64KiB_WithBoundedMemory()
    {
        using var http = Client();
        var body = new string('x', 1024 * 1024);
        var before = GC.GetTotalAllocatedBytes(precise: true);

        // Half declare their length (refused before reading), half are chunked (refused by the server's body limit).
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            using var content = i % 2 == 0 ? (HttpContent)new StringContent(body) : new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(body)));
            if (i % 2 == 1)
            {
                content.Headers.ContentLength = null;
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/login") { Content = content };
            if (i % 2 == 1)
            {
                request.Headers.TransferEncodingChunked = true;
            }

            try
            {
                using var response = await http.SendAsync(request);
                return (int)response.StatusCode;
            }
            catch (MasterConnectionException ex) when (ex.Error == MasterConnectionError.ConnectionClosed)
            {
                return 413; // the server may close the connection after refusing the rest of a chunked body
            }
        })).WaitAsync(TimeSpan.FromMinutes(2));

        // 20 MiB were offered; the master keeps at most 64 KiB of each. The client's own 20 bodies (~60 MiB with their
        // UTF-8 copies) and the in-process master's reads stay far below 256 MiB; the old limit (30 MB) let each login body
        // be parsed in full (27 MB bodies took the master to 2.3 GB).
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.All(answers, status => Assert.Equal(413, status));
        Assert.True(allocated < 256L * 1024 * 1024, $"allocated {allocated / (1024 * 1024)} MiB");
    }

    [Fact]
    public async Task RepeatedFailedLogins_FromOneAddress_AreRateLimited()
    {
        using var http = Client();
        var statuses = new List<int>();
        for (var i = 0; i < 12; i++)
        {
            using var response = await http.PostAsync("/api/v1/auth/login", new StringContent("{\"username\":\"determined\",\"password\":\"wrong\",\"isHashed\":true}", System.Text.Encoding.UTF8, "application/json"));
            statuses.Add((int)response.StatusCode);
        }

        Assert.Equal(Enumerable.Repeat(401, 10), statuses.Take(10));
        Assert.Equal(429, statuses[^1]);

        // Counted per user name: the failures above do not lock another user out of the same address.
        using var other = await http.PostAsync("/api/v1/auth/login", new StringContent("{\"username\":\"admin\",\"password\":\"\",\"isHashed\":true}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Theory]
    [InlineData("{\"username\":\"x\",\"username\":\"y\"}")]
    [InlineData("{\"username\":\"\xff\xfe\"}")]
    [InlineData("{\"username\":[1]}")]
    public async Task MalformedLoginBodies_AreInvalidArguments_NeverServerErrors(string body)
    {
        using var http = Client();
        var bytes = body.Contains('\xff', StringComparison.Ordinal) ? body.Select(c => (byte)c).ToArray() : System.Text.Encoding.UTF8.GetBytes(body);

        using var response = await http.PostAsync("/api/v1/auth/login", new ByteArrayContent(bytes) { Headers = { ContentType = new("application/json") } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task DeeplyNestedJson_IsAnInvalidArgument_NotAServerError()
    {
        using var http = Client();
        var deep = new string('[', 200) + new string(']', 200);

        using var response = await http.PostAsync("/api/v1/auth/login", new StringContent(deep, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task MasterEndpoint_HasEveryFieldUpstreamsPythonBindingsRequire_AndAPep440Version()
    {
        using var http = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.CaFile }))).CreateHandler(new Uri($"https://localhost:{_master.Uri.Port}")));

        var master = JsonNode.Parse(await http.GetStringAsync(new Uri($"https://localhost:{_master.Uri.Port}/api/v1/master")))!.AsObject();

        // harness/determined/common/api/bindings.py v1GetMasterResponse.from_json reads these with obj["..."].
        foreach (var required in new[] { "clusterId", "clusterName", "hasCustomLogo", "masterId", "strictJobQueueControl", "version" })
        {
            Assert.True(master.ContainsKey(required), $"/api/v1/master lacks '{required}'");
        }

        // PEP 440: N(.N)*[{a|b|rc}N][.postN][.devN][+local]
        Assert.Matches(@"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9]+(\.[a-z0-9]+)*)?$", (string?)master["version"]);
    }

    [Fact]
    public async Task PlainHttpToTheTlsPort_FailsCleanlyWithClassification()
    {
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default));
        using var http = new HttpClient(factory.CreateHandler(new Uri($"http://127.0.0.1:{_master.Uri.Port}")));

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => http.GetAsync($"http://127.0.0.1:{_master.Uri.Port}/info"));

        Assert.Equal(MasterConnectionError.TlsServerOnPlaintextUrl, ex.Error);
        using var stillServing = Client();
        Assert.True((await stillServing.GetAsync("/info")).IsSuccessStatusCode);
    }

    [Fact]
    public void PortRule_UnsetIs8443WithTlsAnd8080Without_ExplicitIsHonoured()
    {
        Assert.Equal(8443, new MasterConfig { TlsCert = "c", TlsKey = "k" }.EffectivePort);
        Assert.Equal(8080, new MasterConfig().EffectivePort);
        Assert.Equal(9000, new MasterConfig { Port = 9000, TlsCert = "c", TlsKey = "k" }.EffectivePort);
        Assert.NotEqual(0, _master.Uri.Port);
    }

    [Fact]
    public async Task LoginMeAndErrors_HaveDeterminedShapes()
    {
        using var http = Client();

        var bad = await http.PostAsync("/api/v1/auth/login", new StringContent("{\"username\":\"determined\",\"password\":\"x\",\"isHashed\":true}"));
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        var error = JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(16, (int)error["code"]!);
        Assert.Equal("Unauthenticated", (string?)error["reason"]);
        Assert.NotNull((string?)error["error"]);

        var ok = await http.PostAsync("/api/v1/auth/login", new StringContent("{\"username\":\"determined\",\"password\":\"\",\"isHashed\":true}"));
        var login = JsonNode.Parse(await ok.Content.ReadAsStringAsync())!;
        var token = (string)login["token"]!;
        Assert.Equal("determined", (string?)login["user"]!["username"]);

        using var me = new HttpRequestMessage(HttpMethod.Get, "/api/v1/me");
        me.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var user = JsonNode.Parse(await (await http.SendAsync(me)).Content.ReadAsStringAsync())!["user"]!;
        Assert.Equal("determined", (string?)user["username"]);
        Assert.True((bool)user["admin"]!);

        var master = JsonNode.Parse(await http.GetStringAsync("/api/v1/master"))!;
        Assert.NotNull(master["masterId"]);
        Assert.NotNull(master["clusterName"]);

        using var logout = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/logout");
        logout.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        Assert.True((await http.SendAsync(logout)).IsSuccessStatusCode);
        using var after = new HttpRequestMessage(HttpMethod.Get, "/api/v1/me");
        after.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(after)).StatusCode);
    }

    [Fact]
    public async Task AgentsEndpoint_RejectsBadRequestsWith400()
    {
        using var http = Client();

        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/agents?id=a&reconnect=false")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await UpgradeStatusAsync("/agents?id=&reconnect=false")));
        Assert.Equal(HttpStatusCode.BadRequest, (await UpgradeStatusAsync("/agents?id=a")));
        Assert.Equal(HttpStatusCode.BadRequest, (await UpgradeStatusAsync("/agents?id=a&reconnect=maybe")));
    }

    [Fact]
    public async Task Rotation_ReplacedPairUnderLoad_ZeroFailures_NewFingerprintSeen_BrokenReplacementKeepsOld()
    {
        var before = (await MasterProbe.ProbeAsync(_master.Uri)).PresentedChain[0].Thumbprint;
        using var stop = new CancellationTokenSource();
        var failures = 0;
        var requests = 0;
        var loops = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var fresh = Client(); // new connections, so new handshakes see the new certificate
                try
                {
                    (await fresh.GetAsync("/info")).EnsureSuccessStatusCode();
                    Interlocked.Increment(ref requests);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToList();

        await Task.Delay(300);
        using var renewed = _pki.Ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        renewed.WritePemFiles(_pki.MasterCertFile + ".new", _pki.MasterKeyFile + ".new");
        File.Move(_pki.MasterKeyFile + ".new", _pki.MasterKeyFile, overwrite: true);
        File.Move(_pki.MasterCertFile + ".new", _pki.MasterCertFile, overwrite: true);
        var seen = before;
        for (var i = 0; i < 100 && seen != renewed.Certificate.Thumbprint; i++)
        {
            await Task.Delay(100);
            seen = (await MasterProbe.ProbeAsync(_master.Uri)).PresentedChain[0].Thumbprint;
        }

        // A broken replacement (key of another certificate) is refused and the current pair kept.
        using var other = _pki.Ca.IssueServerCertificate(["other"]);
        other.WritePemFiles(Path.Combine(_pki.Directory, "other.crt"), Path.Combine(_pki.Directory, "other.key"));
        File.Copy(Path.Combine(_pki.Directory, "other.key"), _pki.MasterKeyFile, overwrite: true);
        await Task.Delay(600);
        var afterBroken = (await MasterProbe.ProbeAsync(_master.Uri)).PresentedChain[0].Thumbprint;
        await Task.Delay(300);
        stop.Cancel();
        await Task.WhenAll(loops);

        Assert.NotEqual(before, renewed.Certificate.Thumbprint);
        Assert.Equal(renewed.Certificate.Thumbprint, seen);
        Assert.Equal(renewed.Certificate.Thumbprint, afterBroken);
        Assert.Equal(0, failures);
        Assert.True(requests > 10, $"only {requests} requests ran");
    }

    private async Task<HttpStatusCode> UpgradeStatusAsync(string path)
    {
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.CaFile })));
        using var invoker = new HttpMessageInvoker(factory.CreateHandler(_master.Uri));
        await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => socket.ConnectAsync(new Uri($"wss://127.0.0.1:{_master.Uri.Port}{path}"), invoker, CancellationToken.None));
        return socket.HttpStatusCode;
    }
}

/// <summary>Configuration errors: real processes, non-zero exit and the message.</summary>
public sealed class MasterConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-master-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Exit, string Output)> RunAsync(params string[] args)
    {
        await using var master = RunningProcess.StartDotnet("master", Cluster.MasterDll, args);
        var exit = await master.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (exit, master.Output);
    }

    [Fact]
    public async Task CertWithoutKey_ExitsNonZeroWithUpstreamWording()
    {
        var (exit, output) = await RunAsync("--security-tls-cert", "/some/cert.pem", "--port", "0");
        Assert.Equal(1, exit);
        Assert.Contains("TLS cert file provided without a key file", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyWithoutCert_ExitsNonZeroWithUpstreamWording()
    {
        var (exit, output) = await RunAsync("--security-tls-key", "/some/key.pem", "--port", "0");
        Assert.Equal(1, exit);
        Assert.Contains("TLS key file provided without a cert file", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownYamlKey_IsAnErrorNamingKeyAndFile()
    {
        var file = Path.Combine(_dir, "master.yaml");
        await File.WriteAllTextAsync(file, "port: 0\nsecurity:\n  tls:\n    cert_file: x\n");
        var (exit, output) = await RunAsync("--config-file", file);
        Assert.Equal(1, exit);
        Assert.Contains("unknown configuration key 'security.tls.cert_file'", output, StringComparison.Ordinal);
        Assert.Contains(file, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpstreamMasterYaml_LoadsWithIgnoredKeysNamedOnce_ButKeysUpstreamDoesNotKnowStillFail()
    {
        // The shape of upstream's documented master.yaml (docs: "master configuration reference").
        var file = Path.Combine(_dir, "upstream-master.yaml");
        await File.WriteAllTextAsync(file, """
            port: 0
            db:
              user: postgres
              password: postgres
              host: localhost
              port: 5432
              name: determined
            checkpoint_storage:
              type: shared_fs
              host_path: /tmp
            resource_manager:
              type: agent
              default_aux_resource_pool: default
              default_compute_resource_pool: default
              scheduler:
                type: fair_share
              require_authentication: false
            resource_pools:
              - pool_name: default
            security:
              initial_user_password: ""
              tls:
                cert: ""
                key: ""
            telemetry:
              enabled: false
            logging:
              type: default
            """);
        var errors = new List<string>();
        var notes = new List<string>();

        var config = MasterConfigLoader.Load(file, new Dictionary<string, string>(), _ => null, notes.Add, errors);

        Assert.Empty(errors);
        Assert.False(config.RequireAuthentication);
        var note = Assert.Single(notes, n => n.Contains("were ignored", StringComparison.Ordinal));
        foreach (var key in new[] { "db", "checkpoint_storage", "resource_manager.type", "resource_manager.scheduler", "resource_pools", "security.initial_user_password", "telemetry", "logging" })
        {
            Assert.Contains(key, note, StringComparison.Ordinal);
        }

        await File.AppendAllTextAsync(file, "\nnot_an_upstream_key: 1\n");
        var (exit, output) = await RunAsync("--config-file", file);
        Assert.Equal(1, exit);
        Assert.Contains("unknown configuration key 'not_an_upstream_key'", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreadableOrMissingFiles_AreErrors()
    {
        var (exit, output) = await RunAsync("--config-file", Path.Combine(_dir, "missing.yaml"));
        Assert.Equal(1, exit);
        Assert.Contains("missing.yaml' does not exist", output, StringComparison.Ordinal);

        var garbage = Path.Combine(_dir, "garbage.crt");
        await File.WriteAllTextAsync(garbage, "not a certificate");
        (exit, output) = await RunAsync("--security-tls-cert", garbage, "--security-tls-key", garbage, "--port", "0", "--listen-address", "127.0.0.1");
        Assert.Equal(1, exit);
        Assert.Contains("not a valid certificate and matching private key", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StrictBooleans_AndPrecedenceFlagOverEnvOverFile()
    {
        var file = Path.Combine(_dir, "master.yaml");
        await File.WriteAllTextAsync(file, "port: 1\nresource_manager:\n  require_authentication: maybe\n");
        var (exit, output) = await RunAsync("--config-file", file, "--port", "0");
        Assert.Equal(1, exit);
        Assert.Contains("resource_manager.require_authentication 'maybe'", output, StringComparison.Ordinal);

        var errors = new List<string>();
        var config = MasterConfigLoader.Load(file, new Dictionary<string, string> { ["port"] = "3" }, n => n == "DET_PORT" ? "2" : null, _ => { }, errors);
        Assert.Equal(3, config.Port);
        config = MasterConfigLoader.Load(file, new Dictionary<string, string>(), n => n == "DET_PORT" ? "2" : null, _ => { }, errors);
        Assert.Equal(2, config.Port);
        config = MasterConfigLoader.Load(file, new Dictionary<string, string>(), _ => null, _ => { }, errors);
        Assert.Equal(1, config.Port);
    }

    [Fact]
    public async Task Help_DocumentsEveryOption()
    {
        var (exit, output) = await RunAsync("--help");
        Assert.Equal(0, exit);
        foreach (var flag in MasterConfigLoader.Keys.Select(Determined.Samples.Common.Configuration.LayeredConfig.FlagName).Append("--config-file"))
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }
    }
}
