using System.Text.Json.Nodes;
using Determined.Testing;
using Microsoft.Extensions.Logging;

namespace Determined.Sdk.Tests.Authentication;

public sealed class DeterminedTokenStoreTests : IDisposable
{
    private readonly TestPki _pki = new();

    private string AuthFile => Path.Combine(_pki.ConfigDir, "auth.json");

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void SetToken_WritesVersion2AsPythonWould_AndReadsBack()
    {
        var store = new DeterminedTokenStore(_pki.ConfigDir);

        store.SetToken("master:8080", "determined", "T1");
        store.SetToken("https://other", "alice", "T2", makeActive: false);

        Assert.Equal(
            "{\n    \"masters\": {\n        \"http://master:8080\": {\n            \"active_user\": \"determined\",\n            \"tokens\": {\n                \"determined\": \"T1\"\n            }\n        },\n        \"https://other:443\": {\n            \"tokens\": {\n                \"alice\": \"T2\"\n            }\n        }\n    },\n    \"version\": 2\n}",
            File.ReadAllText(AuthFile));
        Assert.Equal("determined", store.GetActiveUser("http://master:8080/"));
        Assert.Equal("T1", store.GetToken("master", "determined"));
        Assert.Null(store.GetActiveUser("https://other"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(AuthFile));
    }

    [Fact]
    public void Version0File_TokensAreNeverSentToAnyMaster_MigratedOnceKeptAndLogged()
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        File.WriteAllText(AuthFile, "{\"active_user\": \"bob\", \"tokens\": {\"bob\": \"T0\"}}");
        using var logs = new FakeLoggerFactory();
        var store = new DeterminedTokenStore(_pki.ConfigDir, logs.CreateLogger<DeterminedTokenStore>());

        // Upstream maps a v0 token to whatever master is in use; here it is offered to none.
        Assert.Null(store.GetToken("https://m:8443", "bob"));
        Assert.Null(store.GetActiveUser("https://m:8443"));
        Assert.Null(store.GetToken("https://other:8443", "bob"));

        var saved = JsonNode.Parse(File.ReadAllText(AuthFile))!;
        Assert.Equal(2, (int)saved["version"]!);
        Assert.Equal("T0", (string?)saved["masters"]![DeterminedTokenStore.UnboundV0Key]!["tokens"]!["bob"]); // kept, not lost
        var warning = Assert.Single(logs.Records, r => r.Id.Name == "TokenStoreV0Migrated");
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.DoesNotContain("T0", warning.Message, StringComparison.Ordinal);

        store.SetToken("https://m:8443", "carol", "T3");
        Assert.Equal("T3", store.GetToken("https://m:8443", "carol"));
        Assert.Single(logs.Records, r => r.Id.Name == "TokenStoreV0Migrated"); // once
    }

    [Fact]
    public void Version1File_KeysAreCanonicalized()
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        File.WriteAllText(AuthFile, "{\"version\": 1, \"masters\": {\"m:8080\": {\"active_user\": \"u\", \"tokens\": {\"u\": \"T\"}}}}");
        var store = new DeterminedTokenStore(_pki.ConfigDir);

        Assert.Equal("T", store.GetToken("http://m:8080", "u"));
    }

    [Fact]
    public void Version1File_UpstreamUpgradeVectors_MergeStripAndDropAsPythonDoes()
    {
        // The data of upstream's harness/tests/common/api/test_authentication.py::test_auth_json_v1_upgrade.
        Directory.CreateDirectory(_pki.ConfigDir);
        File.WriteAllText(AuthFile, """
            {"version": 1, "masters": {
              "http://firstmaster": {"tokens": {"a": "a.token"}},
              "http://firstmaster:80#fragment": {"tokens": {"b": "b.token"}},
              "https://secondmaster": {"active_user": "a", "tokens": {"a": "a.token", "b": "b.token1"}},
              "https://secondmaster/?key=value": {"tokens": {"b": "b.token2", "c": "c.token"}},
              "thirdmaster": {"active_user": "a", "tokens": {"a": "a.token1", "b": "b.token1"}},
              "http://user@thirdmaster:8080": {"active_user": "b", "tokens": {"a": "a.token2", "b": "b.token2"}},
              "http://\u2100": {"active_user": "a", "tokens": {"a": "a.token"}}
            }}
            """);
        var store = new DeterminedTokenStore(_pki.ConfigDir);

        Assert.Null(store.GetActiveUser("http://firstmaster:80"));
        Assert.Equal(["a", "b"], store.GetUsers("http://firstmaster:80"));
        Assert.Equal("a.token", store.GetToken("http://firstmaster:80", "a"));
        Assert.Equal("b.token", store.GetToken("http://firstmaster:80", "b"));
        Assert.Equal("a", store.GetActiveUser("https://secondmaster:443"));
        Assert.Equal(["a", "b", "c"], store.GetUsers("https://secondmaster:443"));
        Assert.Contains(store.GetToken("https://secondmaster:443", "b"), new[] { "b.token1", "b.token2" });
        Assert.Equal("c.token", store.GetToken("https://secondmaster:443", "c"));
        Assert.Contains(store.GetActiveUser("http://thirdmaster:8080"), new[] { "a", "b" });
        Assert.Equal(["a", "b"], store.GetUsers("http://thirdmaster:8080"));

        store.SetToken("http://thirdmaster:8080", "a", "new");
        var saved = JsonNode.Parse(File.ReadAllText(AuthFile))!;
        Assert.Equal(2, (int)saved["version"]!);
        Assert.Equal(["http://firstmaster:80", "http://thirdmaster:8080", "https://secondmaster:443"], saved["masters"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void RemoveToken_ClearsActiveUser()
    {
        var store = new DeterminedTokenStore(_pki.ConfigDir);
        store.SetToken("m", "u", "T");

        Assert.True(store.RemoveToken("m", "u"));

        Assert.Null(store.GetToken("m", "u"));
        Assert.Null(store.GetActiveUser("m"));
        Assert.False(store.RemoveToken("m", "u"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"version\": 2, \"masters\": {\"http://m:8080\": {\"tokens\": {\"u\": 5}}}}")]
    [InlineData("{\"version\": 7}")]
    public void CorruptFile_IsMovedAsideNotDeleted_AndLoggedWithoutTokens(string contents)
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        File.WriteAllText(AuthFile, contents);
        using var logs = new FakeLoggerFactory();
        var store = new DeterminedTokenStore(_pki.ConfigDir, logs.CreateLogger<DeterminedTokenStore>());

        Assert.Null(store.GetActiveUser("m"));

        var moved = Assert.Single(Directory.GetFiles(_pki.ConfigDir, "auth.json.corrupt-*"));
        Assert.Equal(contents, File.ReadAllText(moved));
        Assert.Contains(logs.Records, r => r.Id.Name == "TokenStoreQuarantined" && r.Message.Contains(moved, StringComparison.Ordinal));
        store.SetToken("m", "u", "T");
        Assert.Equal("T", store.GetToken("m", "u"));
    }

    [Theory]
    [InlineData("{\"version\": \"2\"}", "the version \"2\" is not 0, 1 or 2")]
    [InlineData("{\"version\": -1}", "the version -1 is not 0, 1 or 2")]
    [InlineData("{\"version\": 2, \"masters\": []}", "'masters' is not an object")]
    [InlineData("{\"version\": 2, \"masters\": {\"http://m:8080\": 5}}", "the entry for 'http://m:8080' is not an object")]
    [InlineData("{\"version\": 2, \"masters\": {\"http://m:8080\": {\"tokens\": []}}}", "the tokens of 'http://m:8080' are not a map of strings")]
    [InlineData("{\"version\": 2, \"masters\": {\"http://m:8080\": {\"active_user\": 5}}}", "the active user of 'http://m:8080' is not a string")]
    [InlineData("{\"version\": 2, \"masters\": {\"http://m:8080\": {\"active_user\": [\"u\"]}}}", "the active user of 'http://m:8080' is not a string")]
    [InlineData("{\"tokens\": {\"u\": 5}}", "the tokens of '-' are not a map of strings")]
    public void CorruptFile_TheLogNamesWhatIsWrong(string contents, string problem)
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        File.WriteAllText(AuthFile, contents);
        using var logs = new FakeLoggerFactory();
        var store = new DeterminedTokenStore(_pki.ConfigDir, logs.CreateLogger<DeterminedTokenStore>());

        Assert.Null(store.GetToken("http://m:8080", "u"));

        var record = Assert.Single(logs.Records, r => r.Id.Name == "TokenStoreQuarantined");
        Assert.Equal(problem, record.StructuredState!.Single(kv => kv.Key == "Problem").Value);
    }

    [Fact]
    public void AnyAuthJsonContents_AreReadOrQuarantined_NeverThrow()
    {
        Directory.CreateDirectory(_pki.ConfigDir);
        var store = new DeterminedTokenStore(_pki.ConfigDir);
        var tried = 0;
        var fragments = new[] { "{", "}", "\"version\"", ":", "2", "1", "0", "\"masters\"", "\"http://m:8080\"", "\"tokens\"", "\"active_user\"", "\"u\"", "[", "]", ",", "null", "true" };
        foreach (var text in Determined.Security.Tests.Reliability.HostileInputCorpus.Generate(21, fragments, 1500))
        {
            File.WriteAllText(AuthFile, text);
            _ = store.GetActiveUser("m");
            _ = store.GetToken("m", "u");
            _ = store.GetUsers("m");
            tried++;
        }

        Assert.True(tried > 1000);
    }

    [Fact]
    public void EnvironmentBooleans_AnyValue_AreStrict()
    {
        var tried = 0;
        foreach (var value in Determined.Security.Tests.Reliability.HostileInputCorpus.Generate(22, ["true", "false", "1", "0", "yes", "no", "TRUE", " ", "maybe"], 1000))
        {
            var env = new Dictionary<string, string?> { ["DET_USE_TLS"] = value, ["DET_DEBUG_CONFIG_PATH"] = _pki.ConfigDir };
            var normalized = value.Trim().ToLowerInvariant();
            var valid = value.Length == 0 || normalized is "true" or "false" or "1" or "0" or "yes" or "no";
            if (valid)
            {
                _ = DeterminedConnectionSettings.Resolve(new(), TestPki.Reader(env));
            }
            else
            {
                var ex = Assert.Throws<DeterminedConfigurationException>(() => DeterminedConnectionSettings.Resolve(new(), TestPki.Reader(env)));
                Assert.Contains(ex.Failures, f => f.Contains("DET_USE_TLS", StringComparison.Ordinal));
            }

            tried++;
        }

        Assert.True(tried > 900);
    }

    [Fact]
    public void Settings_UseTheActiveUsersTokenFromTheStore()
    {
        new DeterminedTokenStore(_pki.ConfigDir).SetToken("https://m:8443", "alice", "STORED-SECRET");

        var s = DeterminedConnectionSettings.Resolve(new() { MasterUrl = "https://m:8443" }, TestPki.Reader(new Dictionary<string, string?> { ["DET_DEBUG_CONFIG_PATH"] = _pki.ConfigDir }));

        Assert.True(s.HasUserToken);
        Assert.Equal("alice", s.User);
        Assert.Contains(s.Provenance, x => x.Name == "Token" && x.Origin == SettingOrigin.Store);
    }
}
