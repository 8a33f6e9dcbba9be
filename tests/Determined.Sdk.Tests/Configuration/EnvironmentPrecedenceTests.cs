using Determined.Security;
using Determined.Testing;
using Microsoft.Extensions.Options;

namespace Determined.Sdk.Tests.Configuration;

/// <summary>Upstream's task-side trust rule (REFERENCE.md §3), row by row.</summary>
public sealed class EnvironmentPrecedenceTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private DeterminedConnectionSettings Resolve(DeterminedClientOptions options, Dictionary<string, string?> env, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        env.TryAdd("DET_DEBUG_CONFIG_PATH", _pki.ConfigDir);
        return DeterminedConnectionSettings.Resolve(options, TestPki.Reader(env), logger);
    }

    [Fact]
    public void MasterUrl_Precedence_OptionsThenDetMasterThenDetMasterAddrThenDefault()
    {
        Assert.Equal("https://opt:1", MasterAddress.Canonicalize(Resolve(new() { MasterUrl = "https://opt:1" }, new() { ["DET_MASTER"] = "https://env:2" }).MasterUri));
        Assert.Equal("https://env:2", MasterAddress.Canonicalize(Resolve(new(), new() { ["DET_MASTER"] = "https://env:2", ["DET_MASTER_ADDR"] = "addr" }).MasterUri));
        Assert.Equal("http://addr:8080", MasterAddress.Canonicalize(Resolve(new(), new() { ["DET_MASTER"] = "", ["DET_MASTER_ADDR"] = "addr" }).MasterUri));
        Assert.Equal("http://localhost:8080", MasterAddress.Canonicalize(Resolve(new(), new()).MasterUri));
        Assert.Equal("http://localhost:8080", MasterAddress.Canonicalize(Resolve(new() { UseEnvironment = false }, new() { ["DET_MASTER"] = "https://env:2" }).MasterUri));
    }

    [Fact]
    public void ExplicitFile_IgnoresEnvironmentEntirely()
    {
        var s = Resolve(new() { Tls = new() { MasterCertificateFile = _pki.RootFile } }, new() { ["DET_MASTER_CERT_FILE"] = "noverify", ["DET_MASTER_CERT_NAME"] = "env-name" });

        Assert.Equal(_pki.RootFile, s.Tls.PinnedCertificateSource);
        Assert.False(s.Tls.DangerousSkipVerification);
        Assert.Null(s.Tls.MasterCertificateName);
    }

    [Fact]
    public void ExplicitNameOnly_DropsDetMasterCertFile()
    {
        var s = Resolve(new() { Tls = new() { MasterCertificateName = "explicit" } }, new() { ["DET_MASTER_CERT_FILE"] = _pki.ChainFile, ["DET_MASTER_CERT_NAME"] = "env-name" });

        Assert.Null(s.Tls.PinnedCertificateSource);
        Assert.Equal("explicit", s.Tls.MasterCertificateName);
    }

    [Theory]
    [InlineData("noverify")]
    [InlineData("NOVERIFY")]
    [InlineData("NoVerify")]
    public void EnvNoVerify_AnyCase_TurnsVerificationOffKeepingTheName(string value)
    {
        var s = Resolve(new(), new() { ["DET_MASTER_CERT_FILE"] = value, ["DET_MASTER_CERT_NAME"] = "n" });

        Assert.True(s.Tls.DangerousSkipVerification);
        Assert.Equal("n", s.Tls.MasterCertificateName);
        Assert.Contains(s.Provenance, x => x.Origin == SettingOrigin.Environment && x.Location == "DET_MASTER_CERT_FILE");
    }

    [Fact]
    public void EnvExistingPath_IsPinned_WithTheEnvName()
    {
        var s = Resolve(new(), new() { ["DET_MASTER_CERT_FILE"] = _pki.ChainFile, ["DET_MASTER_CERT_NAME"] = "determined-master-ci" });

        Assert.Equal(_pki.ChainFile, s.Tls.PinnedCertificateSource);
        Assert.Equal(MasterTrustMode.PinnedAdded, s.Tls.TrustMode);
        Assert.Equal("determined-master-ci", s.Tls.MasterCertificateName);
    }

    [Fact]
    public void EnvMissingPath_LogsWarningNamingVariableAndPath_ThenSystemRoots()
    {
        using var logs = new FakeLoggerFactory();
        var missing = Path.Combine(_pki.Directory, "missing.crt");
        _pki.Write("config-dummy", "x");
        var store = new MasterCertificateStore(_pki.ConfigDir);
        store.Set("https://m:8443", TestCertificates.Pem(_pki.Root));

        var s = Resolve(new() { MasterUrl = "https://m:8443" }, new() { ["DET_MASTER_CERT_FILE"] = missing }, logs.CreateLogger("t"));

        Assert.Null(s.Tls.PinnedCertificateSource); // the store is not consulted either, as upstream
        var warning = Assert.Single(logs.Records, r => r.Id.Name == "MissingCertFile");
        Assert.Contains("DET_MASTER_CERT_FILE", warning.Message, StringComparison.Ordinal);
        Assert.Contains(missing, warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoEnvFile_UsesTheTrustOnFirstUseStore()
    {
        new MasterCertificateStore(_pki.ConfigDir).Set("https://m:8443", TestCertificates.Pem(_pki.Root));

        var s = Resolve(new() { MasterUrl = "https://m:8443/" }, new());

        Assert.Equal("inline PEM", s.Tls.PinnedCertificateSource);
        Assert.Equal(_pki.Root.Thumbprint, Assert.Single(s.Tls.PinnedCertificates).Thumbprint);
        Assert.Contains(s.Provenance, x => x.Origin == SettingOrigin.Store && x.Name == "Tls.MasterCertificatePem");
    }

    [Fact]
    public void EmptyCertName_IsUnset()
    {
        var s = Resolve(new(), new() { ["DET_MASTER_CERT_NAME"] = "" });

        Assert.Null(s.Tls.MasterCertificateName);
    }

    [Fact]
    public void EnvironmentTokens_AreNeverSentToAnotherMaster_ThanTheEnvironments()
    {
        var env = new Dictionary<string, string?> { ["DET_MASTER"] = "https://task-master.example:8443", ["DET_SESSION_TOKEN"] = "alloc", ["DET_USER_TOKEN"] = "user", ["DET_USER"] = "alice" };

        var other = Resolve(new() { MasterUrl = "https://other-cluster.example:8443", UseTokenStore = false }, env);
        Assert.False(other.HasAllocationToken);
        Assert.False(other.HasUserToken);
        Assert.Null(other.User);
        Assert.Contains(other.Provenance, x => x.Name == "Token" && x.Value!.Contains("another master", StringComparison.Ordinal));

        // The same master, spelled differently, is the task's master: its tokens apply.
        var same = Resolve(new() { MasterUrl = "https://TASK-MASTER.example:8443/", UseTokenStore = false }, env);
        Assert.True(same.HasAllocationToken);
        Assert.True(same.HasUserToken);
        Assert.Equal("alice", same.User);

        // No explicit URL: the environment's master and its tokens.
        var task = Resolve(new() { UseTokenStore = false }, env);
        Assert.True(task.HasAllocationToken);
    }

    [Fact]
    public void Nothing_IsSystemRoots()
    {
        var s = Resolve(new() { MasterUrl = "https://m:8443" }, new());

        Assert.Null(s.Tls.PinnedCertificateSource);
        Assert.False(s.Tls.DangerousSkipVerification);
    }

    [Fact]
    public void StrictBoolean_DetUseTlsMaybe_IsAnErrorNamingTheVariable()
    {
        var ex = Assert.Throws<DeterminedConfigurationException>(() => Resolve(new(), new() { ["DET_USE_TLS"] = "maybe" }));

        Assert.Contains(ex.Failures, f => f.Contains("DET_USE_TLS='maybe'", StringComparison.Ordinal));
    }

    [Fact]
    public void InvalidSettings_AreAllListedWithFixes()
    {
        var ex = Assert.Throws<DeterminedConfigurationException>(() => Resolve(
            new() { MasterUrl = "http://user:pw@host", MaxRetries = -1, Timeout = TimeSpan.Zero, Tls = new() { MasterCertificateFile = "/nope.crt", DangerousSkipVerification = true } },
            new()));

        Assert.True(ex.Failures.Count >= 5, string.Join("\n", ex.Failures));
        Assert.All(ex.Failures, f => Assert.Contains("Fix:", f, StringComparison.Ordinal));
        Assert.DoesNotContain(ex.Failures, f => f.Contains(":pw@", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(-1, 1 << 20, "DeterminedClientOptions.RetryDelay is -00:00:01")]
    [InlineData(61, 1 << 20, "DeterminedClientOptions.RetryDelay is 00:01:01")]
    [InlineData(1, 1023, "DeterminedClientOptions.MaxResponseBytes is 1023")]
    public void OutOfRangeRetryDelayOrResponseLimit_IsAnErrorWithItsFix(int retryDelaySeconds, int maxResponseBytes, string expected)
    {
        var ex = Assert.Throws<DeterminedConfigurationException>(() => Resolve(new() { MasterUrl = "https://m:8443", RetryDelay = TimeSpan.FromSeconds(retryDelaySeconds), MaxResponseBytes = maxResponseBytes }, new()));

        var failure = Assert.Single(ex.Failures);
        Assert.StartsWith(expected, failure, StringComparison.Ordinal);
        Assert.Contains("Fix:", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void UserAndTokenFile_AreUsed_TheTokenTrimmedAndNeverShown()
    {
        var file = Path.Combine(_pki.Directory, "token.txt");
        File.WriteAllText(file, "  tok-FROM-FILE\n");

        var s = Resolve(new() { MasterUrl = "https://m:8443", User = "alice", TokenFile = file }, new() { ["DET_USER"] = "bob", ["DET_USER_TOKEN"] = "env-token" });

        Assert.Equal("alice", s.User);
        Assert.Equal("tok-FROM-FILE", s.UserToken);
        Assert.Contains(s.Provenance, x => x.Name == "Token" && x.Value == "(set, from file " + file + ")");
        Assert.Contains(s.Provenance, x => x.Name == "User" && x.Value == "alice");
    }

    [Fact]
    public void UnreadableTokenFile_IsAnErrorNamingTheFile()
    {
        var file = Path.Combine(_pki.Directory, "missing-token.txt");

        var ex = Assert.Throws<DeterminedConfigurationException>(() => Resolve(new() { MasterUrl = "https://m:8443", TokenFile = file }, new()));

        Assert.Contains(ex.Failures, f => f.StartsWith($"DeterminedClientOptions.TokenFile '{file}' cannot be read", StringComparison.Ordinal) && f.Contains("Fix:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null, new int[0])]
    [InlineData("[0,1]", new[] { 0, 1 })]
    [InlineData(" [ 3 ] ", new[] { 3 })]
    public void TaskInfo_SlotIds_AreReadAsTheAgentWritesThem(string? value, int[] expected)
    {
        var env = _pki.TaskEnvironment(new Uri("https://127.0.0.1:8443"));
        env["DET_SLOT_IDS"] = value;

        Assert.Equal(expected, DeterminedTaskInfo.FromEnvironment(TestPki.Reader(env)).SlotIds);
    }

    [Fact]
    public void TaskInfo_SlotIdsThatAreNotNumbers_AreAnErrorNamingTheVariable()
    {
        var env = _pki.TaskEnvironment(new Uri("https://127.0.0.1:8443"));
        env["DET_SLOT_IDS"] = "[0,gpu1]";

        var ex = Assert.Throws<DeterminedException>(() => DeterminedTaskInfo.FromEnvironment(TestPki.Reader(env)));

        Assert.StartsWith("DET_SLOT_IDS='[0,gpu1]' is not a list of slot numbers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InfiniteTimeout_IsAllowed()
    {
        var s = Resolve(new() { MasterUrl = "https://m:8443", Timeout = Timeout.InfiniteTimeSpan }, new());

        Assert.Equal(Timeout.InfiniteTimeSpan, s.Timeout);
    }

    [Fact]
    public void Sources_NeverShowTokens()
    {
        var s = Resolve(new() { Token = "tok-SECRET" }, new() { ["DET_SESSION_TOKEN"] = "alloc-SECRET" });

        Assert.True(s.HasUserToken);
        Assert.True(s.HasAllocationToken);
        Assert.DoesNotContain(s.Provenance, x => (x.Value ?? string.Empty).Contains("SECRET", StringComparison.Ordinal));
    }

    [Fact]
    public void TaskInfo_ReadsIdsAndFailsLoudlyOutsideATask()
    {
        var env = _pki.TaskEnvironment(new Uri("https://127.0.0.1:8443"));

        var info = DeterminedTaskInfo.FromEnvironment(TestPki.Reader(env));

        Assert.Equal("task-1", info.TaskId);
        Assert.Equal([0, 1], info.SlotIds);
        Assert.True(info.UseTls);
        var ex = Assert.Throws<DeterminedException>(() => DeterminedTaskInfo.FromEnvironment(_ => null));
        Assert.Contains("DET_ALLOCATION_ID", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }
}
