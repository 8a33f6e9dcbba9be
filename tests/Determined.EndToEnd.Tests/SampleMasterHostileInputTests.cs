using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;

namespace Determined.EndToEnd.Tests;

/// <summary>The sample master against hostile agents, tasks and clients (each case found by review; each failed before its fix).</summary>
public sealed class SampleMasterHostileInputTests(ITestOutputHelper output) : IAsyncLifetime
{
    private MasterHost _master = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _master = await MasterHost.StartAsync(new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback }, _ => null, logging: l => { });
        _http = new HttpClient { BaseAddress = _master.Uri, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _master.DisposeAsync();
    }

    private async Task<string> LoginAsync()
    {
        using var r = await _http.PostAsync("/api/v1/auth/login", new StringContent("{\"username\":\"determined\",\"password\":\"\"}", Encoding.UTF8, "application/json"));
        return (string)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["token"]!;
    }

    private static async Task<string> ReceiveAsync(ClientWebSocket ws)
    {
        var buffer = new byte[1 << 20];
        using var ms = new MemoryStream();
        WebSocketReceiveResult r;
        do
        {
            r = await ws.ReceiveAsync(buffer, CancellationToken.None);
            ms.Write(buffer, 0, r.Count);
        }
        while (!r.EndOfMessage);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private async Task<ClientWebSocket> AgentAsync(string id, string started)
    {
        var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{_master.Uri.Port}/agents?id={id}&reconnect=false"), CancellationToken.None);
        await ReceiveAsync(ws); // MasterSetAgentOptions
        await ws.SendAsync(Encoding.UTF8.GetBytes(started), WebSocketMessageType.Text, true, CancellationToken.None);
        for (var i = 0; i < 100 && _master.Agents.Get(id) is null; i++)
        {
            await Task.Delay(20);
        }

        return ws;
    }

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string token, string? body = null, bool allocation = false)
    {
        using var request = new HttpRequestMessage(method, path);
        if (allocation)
        {
            request.Headers.TryAddWithoutValidation("Grpc-Metadata-x-allocation-token", "Bearer " + token);
        }
        else
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await _http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task HostileAgent_NullDevice_IsDropped_AndListingsStayUp()
    {
        var token = await LoginAsync();
        using var agent = await AgentAsync("evil", "{\"AgentStarted\":{\"Version\":\"x\",\"Devices\":[null,{\"id\":0,\"brand\":null,\"uuid\":null,\"type\":\"cpu\"},{\"id\":0,\"brand\":\"dup\",\"uuid\":\"d\",\"type\":\"cpu\"}]}}");
        var agents = await SendAsync(HttpMethod.Get, "/api/v1/agents", token);
        var launch = await SendAsync(HttpMethod.Post, "/api/v1/commands", token, "{\"config\":{\"entrypoint\":[\"true\"]}}");
        await agent.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        for (var i = 0; i < 100 && _master.Agents.Get("evil") is not null; i++)
        {
            await Task.Delay(20);
        }

        var list = await SendAsync(HttpMethod.Get, "/api/v1/commands", token);
        var tasks = await SendAsync(HttpMethod.Get, "/api/v1/tasks", token);
        Assert.Equal(HttpStatusCode.OK, agents.Status);
        var slots = JsonNode.Parse(agents.Body)!["agents"]![0]!["slots"]!.AsObject();
        Assert.Equal("", (string?)Assert.Single(slots).Value!["device"]!["brand"]); // one device per id, null names made empty
        Assert.Equal(HttpStatusCode.OK, launch.Status);
        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.Equal(HttpStatusCode.OK, tasks.Status);
        Assert.Empty(JsonNode.Parse(tasks.Body)!["allocationIdToSummary"]!.AsObject()); // the agent left: its task ended
    }

    private async Task<(string TaskId, string Allocation, string UserToken, ClientWebSocket Agent)> LaunchAsync(string token)
    {
        var agent = await AgentAsync("a1", "{\"AgentStarted\":{\"Version\":\"x\",\"Devices\":[]}}");
        var start = ReceiveAsync(agent);
        var launch = await SendAsync(HttpMethod.Post, "/api/v1/commands", token, "{\"config\":{\"entrypoint\":[\"true\"]}}");
        Assert.Equal(HttpStatusCode.OK, launch.Status);
        var text = await start;
        var taskId = (string)JsonNode.Parse(launch.Body)!["command"]!["id"]!;
        var allocation = Regex.Match(text, "DET_SESSION_TOKEN=([A-Za-z0-9_-]+)").Groups[1].Value;
        var userToken = Regex.Match(text, "DET_USER_TOKEN=([A-Za-z0-9_-]+)").Groups[1].Value;
        return (taskId, allocation, userToken, agent);
    }

    [Fact]
    public async Task TaskLogs_HugeLines_AreCut_AndATasksLogsHaveAByteBudget()
    {
        var token = await LoginAsync();
        var (taskId, allocation, _, agent) = await LaunchAsync(token);
        using var _a = agent;
        var body = "{\"logs\":[{\"log\":\"" + new string('A', 8 * 1024 * 1024 - 64) + "\"}]}";
        for (var i = 0; i < 12; i++)
        {
            var r = await SendAsync(HttpMethod.Post, "/api/v1/task/logs", allocation, body, allocation: true);
            Assert.Equal(HttpStatusCode.OK, r.Status);
        }

        var kept = _master.Tasks.Get(taskId)!.Logs.After(0, int.MaxValue);
        Assert.Equal(12, kept.Count);
        Assert.All(kept, l => Assert.True(l.Log.Length < Samples.Master.Tasks.TaskLogBuffer.MaxLineChars + 100, $"a line of {l.Log.Length} chars was kept"));
        Assert.EndsWith("[cut: the line was longer than 64 KiB]", kept[0].Log, StringComparison.Ordinal);

        // The per-task budget: the oldest lines go first, and ids keep increasing.
        var buffer = new Samples.Master.Tasks.TaskLogBuffer();
        var line = new string('B', Samples.Master.Tasks.TaskLogBuffer.MaxLineChars);
        for (var i = 0; i < 400; i++)
        {
            buffer.Append(DateTimeOffset.UtcNow, "LOG_LEVEL_INFO", line, "stdout", "task");
        }

        var all = buffer.After(0, int.MaxValue);
        Assert.True((long)all.Count * line.Length <= Samples.Master.Tasks.TaskLogBuffer.MaxChars);
        Assert.Equal(400, all[^1].Id);
        Assert.Equal(all.Select(l => l.Id).Order(), all.Select(l => l.Id));
        Assert.Equal(all.Skip(10).Select(l => l.Id), buffer.After(all[9].Id, int.MaxValue).Select(l => l.Id));
    }

    [Fact]
    public async Task FollowStream_EndsWhenTheAgentIsGone_AndTheTaskEndsWithAReason()
    {
        var token = await LoginAsync();
        var (taskId, allocation, _, agent) = await LaunchAsync(token);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/tasks/{taskId}/logs?follow=true");
        request.Headers.TryAddWithoutValidation("Grpc-Metadata-x-allocation-token", "Bearer " + allocation);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var read = response.Content.ReadAsStringAsync();

        await agent.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        agent.Dispose();

        var finished = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(read, finished); // the stream ended by itself
        var state = await SendAsync(HttpMethod.Get, $"/api/v1/tasks/{taskId}", token);
        var allocationJson = JsonNode.Parse(state.Body)!["task"]!["allocations"]![0]!;
        Assert.Equal("STATE_TERMINATED", (string?)allocationJson["state"]);
        Assert.Contains("disconnected", (string?)allocationJson["exitReason"], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, $"/api/v1/tasks/{taskId}", allocation, allocation: true)).Status);
    }

    [Theory]
    [InlineData("limit=2147483648")]
    [InlineData("limit=1,2")]
    [InlineData("limit=-1")]
    [InlineData("follow=yes")]
    public async Task TaskLogs_BadParameters_Are400(string query)
    {
        var token = await LoginAsync();
        var (taskId, _, _, agent) = await LaunchAsync(token);
        using var _a = agent;
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, $"/api/v1/tasks/{taskId}/logs?{query}", token)).Status);
    }

    [Fact]
    public async Task TaskLogs_FlatMessage_CannotForgeLinesOrSendTerminalEscapes()
    {
        var token = await LoginAsync();
        var (taskId, allocation, _, agent) = await LaunchAsync(token);
        using var _a = agent;
        var forged = "ok\\n[2024-01-01T00:00:00.000000Z] 00000000 || ERROR: forged\\u001b[31m\\r";
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/v1/task/logs", allocation, "{\"logs\":[{\"log\":\"" + forged + "\"}]}", allocation: true)).Status);

        var logs = await SendAsync(HttpMethod.Get, $"/api/v1/tasks/{taskId}/logs", token);
        var result = JsonNode.Parse(logs.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single())!["result"]!;
        var message = (string)result["message"]!;
        Assert.Equal(1, message.Count(c => c == '\n'));
        Assert.EndsWith("\n", message, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', message);
        Assert.DoesNotContain('\r', message);
        Assert.Contains("ok\\n[2024", message, StringComparison.Ordinal);
        Assert.Contains('\u001b', (string)result["log"]!); // the log itself is kept as sent
    }

    [Theory]
    [InlineData("{\"config\":{\"entrypoint\":[\"true\"],\"description\":\"\\uD800\"}}")]
    [InlineData("{\"config\":{\"entrypoint\":[\"\\uD800\"]}}")]
    [InlineData("{\"config\":{\"entrypoint\":[1,2]}}")]
    [InlineData("{\"config\":null}")]
    [InlineData("[{\"config\":{}}]")]
    [InlineData("{\"config\":{\"entrypoint\":[[[[[[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]]]]]]}}")]
    [InlineData("{\"config\":{\"entrypoint\":{\"a\":1}}}")]
    [InlineData("{\"config\":{\"entrypoint\":[\"true\"]},\"agentId\":[1]}")]
    public async Task HostileLaunchBodies_AreNever500(string body)
    {
        var token = await LoginAsync();
        using var agent = await AgentAsync("a9", "{\"AgentStarted\":{\"Version\":\"x\",\"Devices\":[]}}");
        _ = ReceiveAsync(agent);
        var launch = await SendAsync(HttpMethod.Post, "/api/v1/commands", token, body);
        var list = await SendAsync(HttpMethod.Get, "/api/v1/commands", token);
        var tasks = await SendAsync(HttpMethod.Get, "/api/v1/tasks", token);
        output.WriteLine($"POST -> {(int)launch.Status} {launch.Body[..Math.Min(200, launch.Body.Length)]}; GET commands -> {(int)list.Status}; GET tasks -> {(int)tasks.Status}");
        Assert.NotEqual(HttpStatusCode.InternalServerError, launch.Status);
        Assert.NotEqual(HttpStatusCode.InternalServerError, list.Status);
    }
}
