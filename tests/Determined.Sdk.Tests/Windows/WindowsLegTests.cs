using System.Text.Json;
using Determined.Security;
using Determined.Testing;

namespace Determined.Sdk.Tests.Windows;

/// <summary>
/// The Sdk's part of the Windows leg (eng/windows-leg.sh runs this suite, published win-x64, under Wine): a task's injected
/// variables with a Windows certificate path, and both stores in the default configuration directory written by two
/// processes at once. On Linux against an in-process <see cref="WindowsLegFixture"/>, under Wine against the Linux-made one.
/// </summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class WindowsLegTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-windows-leg-").FullName;
    private WindowsLegFixture _fixture = null!;

    public async ValueTask InitializeAsync() => _fixture = await WindowsLegFixture.OpenAsync(Path.Combine(_dir, "fixture"));

    public async ValueTask DisposeAsync()
    {
        await _fixture.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task TaskEnvironment_WithThePlatformsCertificatePath_ConnectsWithNoConfiguration()
    {
        var env = new Dictionary<string, string?>
        {
            ["DET_MASTER"] = _fixture.Master.ToString(),
            ["DET_MASTER_CERT_FILE"] = Path.GetFullPath(_fixture.RootFile), // Z:\...\root.pem under Wine
            ["DET_MASTER_CERT_NAME"] = WindowsLegFixture.MasterName,
            ["DET_DEBUG_CONFIG_PATH"] = Path.Combine(_dir, "config"),
        };

        using var client = DeterminedClient.Create(new DeterminedClientOptions(), name => env.TryGetValue(name, out var v) ? v : null, null);
        var info = await client.GetInfoAsync();

        Assert.Equal("0.0.0-test", info.Version);
    }

    [Fact]
    public async Task TwoProcessesAtOnce_WriteCertsJsonAndAuthJson_InTheDefaultDirectory_NothingLost()
    {
        var profile = Path.Combine(_dir, "profile");
        var environment = new Dictionary<string, string?>
        {
            ["DET_DEBUG_CONFIG_PATH"] = null,
            ["LOCALAPPDATA"] = profile, // Windows: %LOCALAPPDATA%\determined
            ["XDG_CONFIG_HOME"] = profile, // Linux: $XDG_CONFIG_HOME/determined
        };
        var writers = new[] { "a", "b" }.Select(p => ChildProcess.StartTestHost(["stores-write", p, "25", Path.GetFullPath(_fixture.RootFile)], environment)).ToList();
        foreach (var writer in writers)
        {
            var stderr = writer.StandardError.ReadToEndAsync();
            _ = writer.StandardOutput.ReadToEndAsync();
            Assert.True(writer.WaitForExit(180_000), "a store writer hung");
            Assert.True(writer.ExitCode == 0, await stderr);
        }

        var directory = Path.Combine(profile, "determined");
        var certs = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(directory, "certs.json")))!;
        Assert.Equal(50, certs.Count);
        var tokens = new DeterminedTokenStore(directory);
        foreach (var p in new[] { "a", "b" })
        {
            for (var i = 0; i < 25; i++)
            {
                Assert.Equal($"token-{p}-{i}", tokens.GetToken($"https://{p}-{i}:8443", p));
            }
        }
    }
}
