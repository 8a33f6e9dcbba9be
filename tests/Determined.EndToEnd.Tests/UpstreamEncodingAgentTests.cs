using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Determined.Security;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// An agent that speaks only upstream's encoding: every message it sends is a Go-encoded fixture
/// (Fixtures/AgentProtocol/GoEncoded, written by upstream's Go types) with the container id of the task put in, and it
/// reads the master's messages as plain JSON. It runs a task to TERMINATED, with its logs, through the sample master over
/// verified TLS; none of the samples' protocol types is used on the agent side.
/// </summary>
public sealed class UpstreamEncodingAgentTests
{
    private const string FixtureContainerId = "3f6b2c1e-8d2a-4f4e-9b7a-0c1d2e3f4a5b";

    private static string GoEncoded(string name, string containerId) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "AgentProtocol", "GoEncoded", name + ".json"))
            .Replace(FixtureContainerId, containerId, StringComparison.Ordinal);

    private static async Task<JsonObject> ReceiveAsync(ClientWebSocket socket, CancellationToken ct)
    {
        var buffer = new byte[1 << 20];
        var count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count), ct);
            Assert.NotEqual(WebSocketMessageType.Close, result.MessageType);
            count += result.Count;
            if (result.EndOfMessage)
            {
                return JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, count))!.AsObject();
            }

            Assert.True(count < buffer.Length, "a master message over 1 MiB");
        }
    }

    private static Task SendAsync(ClientWebSocket socket, string text, CancellationToken ct) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, ct);

    [Fact]
    public async Task AgentSpeakingOnlyGoEncodedMessages_RunsATaskToTerminated_WithItsLogs()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var ct = timeout.Token;
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true);
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = cluster.CaFile, MasterCertificateName = "determined-master-ci" })));
        using var invoker = new HttpMessageInvoker(factory.CreateHandler(cluster.MasterUri));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{cluster.MasterUri.Port}/agents?id=go-agent&version=0.38.0&resource_pool=default&reconnect=false&hostname=go-host"), invoker, ct);

        // What upstream's agent reads first: MasterSetAgentOptions with MasterInfo and a "default" logging union.
        var setup = await ReceiveAsync(socket, ct);
        Assert.Equal("default", (string?)setup["MasterSetAgentOptions"]!["LoggingOptions"]!["type"]);
        Assert.NotNull(setup["MasterSetAgentOptions"]!["MasterInfo"]!["cluster_id"]);
        Assert.Null(setup["StartContainer"]);

        await SendAsync(socket, GoEncoded("agent_started", "none"), ct);
        await cluster.Master!.WaitForLineAsync("Agent go-agent registered");

        using var client = await cluster.LoginAsync();
        var taskId = await Cluster.LaunchTaskAsync(client, agentId: "go-agent", command: ["python3", "-c", "print(1)"]);

        // StartContainer as upstream's agent decodes it: Cmd, Env "K=V", the certificate as an archive file.
        var start = (await ReceiveAsync(socket, ct))["StartContainer"]!;
        var containerId = (string)start["Container"]!["id"]!;
        Assert.Equal("ASSIGNED", (string?)start["Container"]!["state"]);
        Assert.Equal(["python3", "-c", "print(1)"], start["Spec"]!["RunSpec"]!["ContainerConfig"]!["Cmd"]!.AsArray().Select(n => (string?)n));
        Assert.Contains(start["Spec"]!["RunSpec"]!["ContainerConfig"]!["Env"]!.AsArray(), e => ((string?)e)!.StartsWith("DET_TASK_ID=" + taskId, StringComparison.Ordinal));
        var file = start["Spec"]!["RunSpec"]!["Archives"]![0]!["Archive"]![0]!;
        Assert.Contains("BEGIN CERTIFICATE", Encoding.UTF8.GetString(Convert.FromBase64String((string)file["content"]!)), StringComparison.Ordinal);
        Assert.Equal(420, (int)file["mode"]!); // 0644

        foreach (var message in new[] { "container_log_aux", "container_state_changed_running", "container_log_run", "container_stats_record", "container_state_changed_stopped" })
        {
            await SendAsync(socket, GoEncoded(message, containerId), ct);
        }

        var (task, logs) = await Cluster.WaitForTaskAsync(client, taskId, TimeSpan.FromMinutes(2));
        Assert.Equal(137, Cluster.ExitCode(task));
        Assert.Equal("container failed with non-zero exit code: 137", (string?)task["allocations"]![0]!["exitReason"]);
        var lines = logs.Select(l => ((string?)l!["log"], (string?)l["stdtype"], (string?)l["level"])).ToList();
        Assert.Contains(("image already present on agent, skipping pull", "stdout", "LOG_LEVEL_INFO"), lines);
        Assert.Contains(("Traceback (most recent call last):\n", "stderr", "LOG_LEVEL_INFO"), lines);
        Assert.DoesNotContain("malformed", cluster.Master.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("of no kind", cluster.Master.Output, StringComparison.Ordinal);

        // The session ends cleanly.
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", ct);
        await cluster.Master.WaitForLineAsync("Agent go-agent disconnected");
    }
}
