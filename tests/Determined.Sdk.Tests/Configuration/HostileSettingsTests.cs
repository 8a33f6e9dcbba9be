using System.Text.Json.Nodes;
using Determined.Security;
using Determined.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Determined.Sdk.Tests.Configuration;

/// <summary>Hostile environments and stores against settings resolution, DI and trust on first use (each case found by review).</summary>
public sealed class HostileSettingsTests : IDisposable
{
    private readonly TestPki _pki = new();
    private readonly TestPki _other = new();

    public void Dispose()
    {
        _pki.Dispose();
        _other.Dispose();
    }

    private DeterminedConnectionSettings Resolve(DeterminedClientOptions options, Dictionary<string, string?> env)
    {
        env.TryAdd("DET_DEBUG_CONFIG_PATH", _pki.ConfigDir);
        return DeterminedConnectionSettings.Resolve(options, TestPki.Reader(env));
    }

    // ---- 1. Env credentials: whenever they are used, the destination is the env master. ----
    [Theory]
    [InlineData("https://env.example:8443", "https://ENV.EXAMPLE:8443")]
    [InlineData("https://env.example", "https://env.example:443")]
    [InlineData("https://env.example", "HTTPS://env.example/")]
    [InlineData("https://env.example", "https://env.example.")]
    [InlineData("https://env.example", "http://env.example:443")]
    [InlineData("https://env.example", "https://@env.example")]
    [InlineData("https://env.example", "https://env.example/other")]
    [InlineData("https://[::1]:8443", "https://[0:0:0:0:0:0:0:1]:8443")]
    [InlineData("https://[::1]:8443", "https://[::ffff:127.0.0.1]:8443")]
    [InlineData("https://xn--bcher-kva.example", "https://bücher.example")]
    [InlineData("https://kmaster", "https://\u212Amaster")]
    [InlineData("env.example", "http://env.example:8080")]
    [InlineData("env.example", "https://env.example:8080")]
    public void EnvCredentials_OnlyReachTheEnvMastersDestination(string detMaster, string optionsUrl)
    {
        foreach (var variable in new[] { "DET_MASTER", "DET_MASTER_ADDR" })
        {
            var env = new Dictionary<string, string?> { [variable] = detMaster, ["DET_USER_TOKEN"] = "T", ["DET_SESSION_TOKEN"] = "S", ["DET_USER"] = "u" };
            var s = Resolve(new() { MasterUrl = optionsUrl, UseTokenStore = false, UseCertificateStore = false }, env);
            var envUri = MasterAddress.Parse(detMaster);
            var same = s.MasterUri.Scheme == envUri.Scheme && s.MasterUri.IdnHost == envUri.IdnHost && s.MasterUri.Port == envUri.Port && s.MasterUri.AbsolutePath == envUri.AbsolutePath;
            if (s.HasUserToken || s.HasAllocationToken || s.User is not null)
            {
                Assert.True(same, $"{variable}={detMaster}, MasterUrl={optionsUrl}: env credentials sent to {s.MasterUri}");
            }
        }
    }

    // ---- 1b. The env TLS settings (noverify, cert name) apply to a master the options name instead. ----
    [Fact]
    public void EnvNoVerify_DoesNotApplyToAnotherMaster()
    {
        var env = new Dictionary<string, string?> { ["DET_MASTER"] = "https://task-master:8443", ["DET_MASTER_CERT_FILE"] = "noverify", ["DET_USER_TOKEN"] = "task-token" };
        var s = Resolve(new() { MasterUrl = "https://prod-master:8443", Token = "prod-admin-token" }, env);

        Assert.False(s.HasAllocationToken);
        Assert.True(s.HasUserToken); // the prod token, sent only over verified TLS
        Assert.False(s.Tls.DangerousSkipVerification);
        Assert.Contains(s.Provenance, x => x.Name == "Tls" && x.Value!.Contains("another master", StringComparison.Ordinal));

        var task = Resolve(new() { UseTokenStore = false }, env); // the task's own master: noverify applies, as upstream
        Assert.True(task.Tls.DangerousSkipVerification);
    }

    [Fact]
    public void EnvCertName_DoesNotApplyToAnotherMaster()
    {
        var env = new Dictionary<string, string?> { ["DET_MASTER"] = "https://task-master:8443", ["DET_MASTER_CERT_NAME"] = "task-master.internal" };
        var s = Resolve(new() { MasterUrl = "https://prod-master:8443", Token = "prod-admin-token" }, env);

        Assert.Null(s.Tls.MasterCertificateName);
        Assert.Equal("task-master.internal", Resolve(new(), env).Tls.MasterCertificateName);
    }

    // ---- 4. Hostile stores: exceptions other than DeterminedException. ----
    private void WriteCerts(string json)
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        File.WriteAllText(Path.Combine(_pki.ConfigDir, "certs.json"), json);
    }

    [Fact]
    public void CertsJson_DuplicateKey_LastWins_AsPython()
    {
        var first = System.Text.Json.JsonSerializer.Serialize(TestCertificates.Pem(_other.Root));
        var last = System.Text.Json.JsonSerializer.Serialize(TestCertificates.Pem(_pki.Root));
        WriteCerts($"{{\"https://m:8443\": {first}, \"https://m:8443\": {last}}}"); // Python's json.load accepts it (last wins)

        var s = Resolve(new() { MasterUrl = "https://m:8443" }, new());

        Assert.Equal(_pki.Root.Thumbprint, Assert.Single(s.Tls.PinnedCertificates).Thumbprint);
        Assert.True(File.Exists(Path.Combine(_pki.ConfigDir, "certs.json"))); // not quarantined
    }

    [Fact]
    public void CertsJson_LoneSurrogateKey_IsAClassifiedError_AndTheFileIsKept()
    {
        var pem = System.Text.Json.JsonSerializer.Serialize(TestCertificates.Pem(_pki.Root));
        WriteCerts($"{{\"https://\\ud800:443\": {pem}}}"); // what Python's json.dump writes for a lone surrogate
        var ex = Assert.Throws<DeterminedConfigurationException>(() => Resolve(new() { MasterUrl = "https://m:8443" }, new()));
        Assert.Contains(ex.Failures, f => f.Contains("lone surrogate", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(_pki.ConfigDir, "certs.json"))); // Python can read it: not moved aside
    }

    [Fact]
    public void LoneSurrogateOrControlCharacterHost_IsRefused_TheStoreStaysReadable()
    {
        var store = new MasterCertificateStore(_pki.ConfigDir);
        store.Set("https://good:8443", TestCertificates.Pem(_pki.Root));
        Assert.Throws<FormatException>(() => store.Set("https://\ud800:8443", TestCertificates.Pem(_pki.Root)));
        Assert.Throws<FormatException>(() => store.Set("https://bad\u0001host:8443", TestCertificates.Pem(_pki.Root)));
        Assert.False(MasterAddress.TryParse("https://x/\udc00", out _, out _));
        Assert.NotNull(store.Get("https://good:8443"));
    }

    [Fact]
    public void AuthJson_DuplicateUser_LastWins_AsPython()
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        File.WriteAllText(Path.Combine(_pki.ConfigDir, "auth.json"),
            "{\"version\": 2, \"masters\": {\"https://m:8443\": {\"active_user\": \"u\", \"tokens\": {\"u\": \"a\", \"u\": \"b\"}}}}");

        Assert.Equal("b", new DeterminedTokenStore(_pki.ConfigDir).GetToken("https://m:8443", "u"));
        Assert.True(Resolve(new() { MasterUrl = "https://m:8443", UseCertificateStore = false }, new()).HasUserToken);
    }

    [Fact]
    public void CorruptCertsJson_QuarantineFails_IsAClassifiedError_AndNothingIsDeleted()
    {
        // Stands in for a read-only configuration directory (a mounted secret, which ReadLocked explicitly supports): the
        // move aside fails. Here the quarantine name is occupied by a directory for the next few seconds.
        WriteCerts("{not json");
        var now = DateTimeOffset.UtcNow;
        for (var i = -1; i < 30; i++)
        {
            Directory.CreateDirectory(Path.Combine(_pki.ConfigDir, "certs.json.corrupt-" + now.AddSeconds(i).ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture)));
        }

        var ex = Assert.Throws<DeterminedConfigurationException>(() => Resolve(new() { MasterUrl = "https://m:8443" }, new()));
        Assert.Contains(ex.Failures, f => f.Contains("cannot be moved aside", StringComparison.Ordinal));
        Assert.Equal("{not json", File.ReadAllText(Path.Combine(_pki.ConfigDir, "certs.json")));
    }

    [Fact]
    public async Task Di_NamedClient_UnreadableStore_FailsStartNamingTheClient()
    {
        var pem = System.Text.Json.JsonSerializer.Serialize(TestCertificates.Pem(_pki.Root));
        WriteCerts($"{{\"https://\\ud800:443\": {pem}}}");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(new DeterminedEnvironment(TestPki.Reader(new Dictionary<string, string?> { ["DET_DEBUG_CONFIG_PATH"] = _pki.ConfigDir })));
        builder.Services.AddDeterminedClient("b", o => o.MasterUrl = "https://b:8443");
        using var host = builder.Build();
        var ex = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(ex.Failures, f => f.StartsWith("Determined client 'b': ", StringComparison.Ordinal));
        Assert.Throws<DeterminedConfigurationException>(() => host.Services.GetRequiredService<IDeterminedClientFactory>().CreateClient("b"));
    }

    // ---- 3/4. TOFU read-check-write is not atomic: a chain another process stored meanwhile is replaced silently. ----
    [Fact]
    public async Task Tofu_AnEntryChangedWhileAsking_IsNeverOverwritten()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var url = MasterAddress.Canonicalize(master.Uri);
        var otherLeaf = TestCertificates.CreateLeaf(_other.Intermediate, new() { Dns = ["determined-master-ci"], Ips = [] });
        var otherPem = TestCertificates.Pem(otherLeaf, _other.Intermediate);
        var tofu = new TrustOnFirstUse(new MasterCertificateStore(_pki.ConfigDir))
        {
            Prompt = (_, _) =>
            {
                // While the user reads the prompt, another det process trusts a chain with ANOTHER key for this master.
                new MasterCertificateStore(_pki.ConfigDir).Set(url, otherPem);
                return ValueTask.FromResult(true);
            },
        };

        // The certificate names only determined-master-ci: with that name (as DET_MASTER_CERT_NAME gives it), it would be trusted.
        var ex = await Assert.ThrowsAsync<DeterminedStoreException>(() => tofu.TrustAsync(master.Uri, "determined-master-ci"));
        Assert.Contains("changed while this process was deciding", ex.Message, StringComparison.Ordinal);

        Assert.Equal(otherPem, new MasterCertificateStore(_pki.ConfigDir).Get(url)); // the other process's entry stands
    }

    // ---- 3. AsyncLocal: a task started inside the locked section keeps "holding" the lock after it is released. ----
    [Fact]
    public async Task StoreFile_WorkStartedInsideTheLock_TakesTheLockAgainAfterRelease()
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        var file = new StoreFile(Path.Combine(_pki.ConfigDir, "x.json"), TimeProvider.System);
        file.Update(s => { s["n"] = 0; return (0, true); });
        Task? leaked = null;
        var gate = new TaskCompletionSource();
        await file.RunLockedAsync(() => { leaked = Task.Run(async () => { await gate.Task; file.Update(s => { s["n"] = 1; return (0, true); }); }); return 0; }, default);

        // Another holder takes the OS lock; the leaked flow should wait for it, but writes at once.
        using (new FileStream(file.LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            gate.SetResult();
            var finished = await Task.WhenAny(leaked!, Task.Delay(1000)) == leaked;
            Assert.False(finished, "work started inside the locked section wrote while another holder had the lock");
        }

        await leaked!.WaitAsync(TimeSpan.FromMinutes(1)); // and writes once the other holder lets go
    }

    [Fact]
    public async Task StoreFile_Control_InProcessHolderBlocksANormalFlow()
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        var file = new StoreFile(Path.Combine(_pki.ConfigDir, "y.json"), TimeProvider.System);
        file.Update(s => { s["n"] = 0; return (0, true); });
        using (new FileStream(file.LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            using var cts = new CancellationTokenSource(1000);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.Run(() => file.RunLockedAsync(() => 0, cts.Token)));
        }
    }
}
