using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>Agent options as REFERENCE.md §2: real processes, exit codes and messages.</summary>
public sealed class AgentConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-agent-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Exit, string Output)> RunAsync(IDictionary<string, string?>? env, params string[] args)
    {
        await using var agent = RunningProcess.StartDotnet("agent", Cluster.AgentDll, args, env);
        var exit = await agent.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (exit, agent.Output);
    }

    [Fact]
    public async Task MasterHost_IsRequired()
    {
        var (exit, output) = await RunAsync(null);
        Assert.Equal(1, exit);
        Assert.Contains("master host must be provided", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MasterCertWithSkipVerify_IsRejectedWithUpstreamMeaning()
    {
        var (exit, output) = await RunAsync(
            new Dictionary<string, string?> { ["DET_SECURITY_TLS_SKIP_VERIFY"] = "true" },
            "--master-host", "127.0.0.1", "--security-tls-enabled", "true", "--security-tls-master-cert", "/x.crt");
        Assert.Equal(1, exit);
        Assert.Contains("cannot specify a master cert file with verification off", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownYamlKey_AndNonBooleanEnv_AreErrors()
    {
        var file = Path.Combine(_dir, "agent.yaml");
        await File.WriteAllTextAsync(file, "master_host: 127.0.0.1\nsecurity:\n  tls:\n    verify: false\n");
        var (exit, output) = await RunAsync(new Dictionary<string, string?> { ["DET_SECURITY_TLS_ENABLED"] = "maybe" }, "--config-file", file);
        Assert.Equal(1, exit);
        Assert.Contains("unknown configuration key 'security.tls.verify'", output, StringComparison.Ordinal);
        Assert.Contains(file, output, StringComparison.Ordinal);
        Assert.Contains("security.tls.enabled 'maybe' (from environment variable DET_SECURITY_TLS_ENABLED)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingMasterCertFile_FailsClosedWithThePath()
    {
        var missing = Path.Combine(_dir, "nope.crt");
        var (exit, output) = await RunAsync(null, "--master-host", "127.0.0.1", "--security-tls-enabled", "true", "--security-tls-master-cert", missing);
        Assert.Equal(1, exit);
        Assert.Contains(missing, output, StringComparison.Ordinal);
        Assert.Contains("does not exist", output, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultPort_Is443WithTlsAnd80Without()
    {
        Assert.Equal(443, new Determined.Samples.Agent.Configuration.AgentConfig { MasterHost = "m", AgentId = "a", TlsEnabled = true }.EffectivePort);
        Assert.Equal(80, new Determined.Samples.Agent.Configuration.AgentConfig { MasterHost = "m", AgentId = "a" }.EffectivePort);
    }

    [Fact]
    public async Task MasterGone_AgentRetriesThenExitsWithClearMessage()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        var (exit, output) = await RunAsync(null, "--master-host", "127.0.0.1", "--master-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--agent-reconnect-attempts", "2", "--agent-reconnect-backoff", "0.2");
        Assert.Equal(1, exit);
        Assert.Contains("Giving up on the master", output, StringComparison.Ordinal);
        Assert.Contains("agent_reconnect_attempts", output, StringComparison.Ordinal);
    }
}
