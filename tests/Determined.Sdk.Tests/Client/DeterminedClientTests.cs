using System.Net;
using Determined.Security;
using Determined.Testing;

namespace Determined.Sdk.Tests.Client;

/// <summary>The client against a real TLS master on 127.0.0.1.</summary>
public sealed class DeterminedClientTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task ZeroConfigTask_OnlyInjectedEnvironment_MeCarriesTheAllocationHeader()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var env = _pki.TaskEnvironment(new Uri($"https://127.0.0.1:{master.Uri.Port}"));

        using var client = DeterminedClient.Create(new DeterminedClientOptions(), TestPki.Reader(env), null);
        var me = await client.GetCurrentUserAsync();

        Assert.Equal("task-owner", me.Username);
        Assert.Equal("Bearer " + FakeMaster.AllocationToken, master.LastAllocationHeader);
        Assert.Equal("determined-master-ci", master.Server.LastSni);
    }

    [Fact]
    public async Task PostTaskLogs_InsideATask_SendsTheLinesWithTheAllocationToken_AndRefusalsAreApiErrors()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var env = _pki.TaskEnvironment(new Uri($"https://127.0.0.1:{master.Uri.Port}"));
        using var client = DeterminedClient.Create(new DeterminedClientOptions(), TestPki.Reader(env), null);

        await client.PostTaskLogsAsync([new TaskLog { TaskId = "t1", Log = "step 1\n" }]);

        var sent = Assert.Single(master.LastTaskLogs!["logs"]!.AsArray());
        Assert.Equal("t1", (string?)sent!["taskId"]);
        Assert.Equal("step 1\n", (string?)sent["log"]);
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.PostTaskLogsAsync(null!));

        env.Remove("DET_SESSION_TOKEN");
        using var outsider = DeterminedClient.Create(new DeterminedClientOptions(), TestPki.Reader(env), null);
        var refused = await Assert.ThrowsAsync<DeterminedApiException>(() => outsider.PostTaskLogsAsync([new TaskLog { TaskId = "t1", Log = "x" }]));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task ClientForMocking_OverridesAreUsed()
    {
        DeterminedClient client = new MockClient();

        var info = await client.GetInfoAsync();

        Assert.Equal("mocked", info.Version);
        Assert.Null(client.Settings);
    }

    private sealed class MockClient : DeterminedClient
    {
        public override Task<MasterInfo> GetInfoAsync(CancellationToken cancellationToken = default) => Task.FromResult(new MasterInfo { Version = "mocked" });
    }

    [Fact]
    public async Task CiScenario_IpUrlDnsOnlyCertificate_WithoutTheName_IsANameMismatch()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var env = _pki.TaskEnvironment(new Uri($"https://127.0.0.1:{master.Uri.Port}"), certName: null);

        using var client = DeterminedClient.Create(new DeterminedClientOptions(), TestPki.Reader(env), null);
        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync());

        Assert.Equal(MasterConnectionError.NameMismatch, ex.Error);
    }

    [Fact]
    public async Task Login_DefaultUserEmptyPassword_SendsHashedAndUsesTheToken()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        using var client = DeterminedClient.Create(
            new DeterminedClientOptions { MasterUrl = master.Uri.ToString(), Tls = { MasterCertificateFile = _pki.RootFile, MasterCertificateName = "determined-master-ci" }, UseTokenStore = false },
            TestPki.Reader(new Dictionary<string, string?>()),
            null);

        var login = await client.LoginAsync("determined", "");
        var me = await client.GetCurrentUserAsync();

        Assert.Equal(FakeMaster.UserToken, login.Token);
        Assert.DoesNotContain(FakeMaster.UserToken, login.ToString(), StringComparison.Ordinal);
        Assert.Equal(true, (bool?)master.LastLogin!["isHashed"]);
        Assert.Equal("determined", me.Username);
        Assert.Equal("Bearer " + FakeMaster.UserToken, master.LastAuthorization);

        await client.LogoutAsync();
        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetCurrentUserAsync());
        Assert.True(ex.IsUnauthenticated);
    }

    [Fact]
    public async Task WrongPassword_Is401WithCodeReasonAndFix()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        using var client = DeterminedClient.Create(
            new DeterminedClientOptions { MasterUrl = master.Uri.ToString(), Tls = { MasterCertificateFile = _pki.RootFile, MasterCertificateName = "determined-master-ci" }, UseTokenStore = false },
            TestPki.Reader(new Dictionary<string, string?>()),
            null);

        var ex = await Assert.ThrowsAsync<DeterminedApiException>(() => client.LoginAsync("determined", "wrong-PASSWORD-value"));

        Assert.Equal(HttpStatusCode.Unauthorized, ex.StatusCode);
        Assert.Equal(16, ex.Code);
        Assert.Equal("Unauthenticated", ex.Reason);
        Assert.True(ex.IsUnauthenticated);
        Assert.False(ex.IsPermissionDenied);
        Assert.Contains("invalid credentials", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-PASSWORD-value", ex.Message, StringComparison.Ordinal);
        Assert.NotEqual("wrong-PASSWORD-value", (string?)master.LastLogin!["password"]);
    }

    [Fact]
    public void PasswordHash_MatchesDeterminedVector()
    {
        Assert.Equal(
            "c7e7c0ffdcdb574914b3c36dc6deb37a37e5c36f25dabef323cf470041c122470b3beab157cb8c1624cab6dd9d8e27dd242a128e5899a5c8b7fb7a1b7c521778",
            PasswordHash.Hash("A05850A9-bcfe-4ea6-8363-7350ee604be7"));
        Assert.Equal(string.Empty, PasswordHash.Hash(string.Empty));
    }

    [Fact]
    public async Task TwoMasters_DifferentPinnedCertificates_UsedConcurrentlyFromOneProcess()
    {
        var certA = TestCertificates.CreateLeaf(null, new() { CommonName = "a" });
        var certB = TestCertificates.CreateLeaf(null, new() { CommonName = "b" });
        await using var a = await FakeMaster.StartAsync(certA);
        await using var b = await FakeMaster.StartAsync(certB);
        using var clientA = DeterminedClient.Create(new() { MasterUrl = a.Uri.ToString(), Tls = { MasterCertificatePem = TestCertificates.Pem(certA) }, UseTokenStore = false }, _ => null, null);
        using var clientB = DeterminedClient.Create(new() { MasterUrl = b.Uri.ToString(), Tls = { MasterCertificatePem = TestCertificates.Pem(certB) }, UseTokenStore = false }, _ => null, null);

        var results = await Task.WhenAll(Enumerable.Range(0, 8).SelectMany(_ => new[] { clientA.GetMasterAsync(), clientB.GetMasterAsync() }));

        Assert.All(results, r => Assert.Equal("test", r.ClusterName));
    }

    [Fact]
    public async Task Transient503_IsRetriedWithBackoff_ThenSucceeds()
    {
        await using var master = await FakeMaster.StartAsync(null);
        using var client = DeterminedClient.Create(new() { MasterUrl = master.Uri.ToString(), RetryDelay = TimeSpan.FromMilliseconds(10), UseTokenStore = false }, _ => null, null);

        var info = await client.GetFromJsonAsync("flaky", SdkJsonContext.Default.MasterInfo);

        Assert.Equal("ok", info!.Version);
        Assert.Equal(3, master.FlakyCalls);
    }

    [Fact]
    public async Task TlsFailure_IsNeverRetried()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        using var client = DeterminedClient.Create(new() { MasterUrl = master.Uri.ToString(), RetryDelay = TimeSpan.FromSeconds(30), UseTokenStore = false, UseCertificateStore = false }, _ => null, null);
        var watch = System.Diagnostics.Stopwatch.StartNew();

        await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync());

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), "a TLS failure must not be retried with the 30 s delay");
    }

    [Fact]
    public async Task ConnectionRefused_IsRetriedUntilTheDeadlineThenThrownClassified()
    {
        var port = Determined.Testing.HostileServer.ClosedPort();
        using var client = DeterminedClient.Create(new() { MasterUrl = $"http://127.0.0.1:{port}", MaxRetries = 2, RetryDelay = TimeSpan.FromMilliseconds(5), Timeout = TimeSpan.FromSeconds(1), UseTokenStore = false }, _ => null, null);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetInfoAsync());
        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
        Assert.IsType<HttpRequestException>(ex.InnerException);
        Assert.Equal(HttpRequestError.ConnectionError, ((HttpRequestException)ex.InnerException).HttpRequestError);
        Assert.Contains("comes from DeterminedClientOptions.MasterUrl", ex.Message, StringComparison.Ordinal);
    }
}
