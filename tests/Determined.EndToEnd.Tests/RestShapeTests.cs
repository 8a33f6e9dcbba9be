using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Determined.Sdk;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// Every REST answer of the sample master has the field set of upstream's proto message, as grpc-gateway v1 with
/// <c>EmitDefaults</c> writes it: Fixtures/RestShapes/messages.json is derived from upstream's .proto files by
/// eng/proto-shapes.py (every field present unless proto3 <c>optional</c>; no field upstream does not define; JSON types
/// per proto type, recursively).
/// </summary>
public sealed class RestShapeTests
{
    private static readonly JsonObject Messages = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "RestShapes", "messages.json")))!.AsObject();

    private static readonly HashSet<string> Integers = ["int32", "uint32", "sint32", "fixed32", "sfixed32"];

    // protojson writes 64-bit integers as strings.
    private static readonly HashSet<string> Strings = ["string", "bytes", "int64", "uint64", "sint64", "fixed64", "sfixed64"];

    /// <summary>Checks <paramref name="node"/> against a message; returns the differences as "path: what".</summary>
    public static List<string> Check(JsonNode? node, string message, string path = "$")
    {
        var errors = new List<string>();
        CheckMessage(node, message, path, errors);
        return errors;
    }

    private static void CheckMessage(JsonNode? node, string message, string path, List<string> errors)
    {
        if (Messages[message] is not JsonObject fields)
        {
            errors.Add($"{path}: no message {message} in the fixture");
            return;
        }

        if (node is not JsonObject obj)
        {
            errors.Add($"{path}: {message} must be an object, got {node?.GetValueKind().ToString() ?? "null"}");
            return;
        }

        foreach (var (name, _) in obj)
        {
            if (!fields.ContainsKey(name))
            {
                errors.Add($"{path}.{name}: not a field of upstream's {message}");
            }
        }

        foreach (var (name, spec) in fields)
        {
            var optional = (bool)spec!["optional"]!;
            if (!obj.TryGetPropertyValue(name, out var value))
            {
                if (!optional)
                {
                    errors.Add($"{path}.{name}: missing (upstream's {message} always has it with EmitDefaults)");
                }

                continue;
            }

            var type = (string)spec["type"]!;
            if ((bool)spec["map"]!)
            {
                if (value is not JsonObject map)
                {
                    errors.Add($"{path}.{name}: a map must be an object");
                    continue;
                }

                foreach (var (key, item) in map)
                {
                    CheckValue(item, type, $"{path}.{name}[{key}]", errors);
                }
            }
            else if ((bool)spec["repeated"]!)
            {
                if (value is not JsonArray array)
                {
                    errors.Add($"{path}.{name}: a repeated field must be an array (empty, never null)");
                    continue;
                }

                for (var i = 0; i < array.Count; i++)
                {
                    CheckValue(array[i], type, $"{path}.{name}[{i}]", errors);
                }
            }
            else
            {
                CheckValue(value, type, $"{path}.{name}", errors, nullable: Messages.ContainsKey(type) || type is "Struct" or "Timestamp");
            }
        }
    }

    private static void CheckValue(JsonNode? value, string type, string path, List<string> errors, bool nullable = false)
    {
        if (value is null)
        {
            if (!nullable)
            {
                errors.Add($"{path}: null for a {type}");
            }

            return;
        }

        var kind = value.GetValueKind();
        switch (type)
        {
            case "bool" when kind is not (JsonValueKind.True or JsonValueKind.False):
            case "double" or "float" when kind != JsonValueKind.Number:
                errors.Add($"{path}: {kind} for a {type}");
                break;
            case var t when Integers.Contains(t) && (kind != JsonValueKind.Number || !int.TryParse(value.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)):
                errors.Add($"{path}: {value.ToJsonString()} for a {type}");
                break;
            case var t when Strings.Contains(t) && kind != JsonValueKind.String:
                errors.Add($"{path}: {kind} for a {type}");
                break;
            case "Timestamp" when kind != JsonValueKind.String || !IsProtoTimestamp((string)value!):
                errors.Add($"{path}: {value.ToJsonString()} is not a protojson Timestamp (RFC 3339, Z, 0/3/6/9 fractional digits)");
                break;
            case "Struct" when kind != JsonValueKind.Object:
                errors.Add($"{path}: {kind} for a Struct");
                break;
            case var t when Messages.ContainsKey(t):
                CheckMessage(value, t, path, errors);
                break;
            case var t when !Integers.Contains(t) && !Strings.Contains(t) && t is not ("bool" or "double" or "float" or "Timestamp" or "Struct") && kind != JsonValueKind.String:
                errors.Add($"{path}: {kind} for the enum {t} (grpc-gateway writes enum names)");
                break;
        }
    }

    private static bool IsProtoTimestamp(string text) =>
        System.Text.RegularExpressions.Regex.IsMatch(text, @"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.(\d{3}|\d{6}|\d{9}))?Z$");

    [Fact]
    public void Checker_FindsEveryKindOfDifference()
    {
        // The checker itself: a shape that is right, and one wrong in each way it must catch.
        var good = JsonNode.Parse("""{"id":"a","registeredTime":"2024-05-06T07:08:09.123Z","slots":{},"containers":{},"addresses":[],"enabled":true,"draining":false,"version":"1","resourcePools":["default"],"slotStats":{"typeStats":{},"brandStats":{}}}""");
        Assert.Empty(Check(good, "Agent"));

        var bad = JsonNode.Parse("""{"id":1,"registeredTime":"2024-05-06T07:08:09+00:00","slots":[],"containers":{"c":{"id":"c","state":3,"parent":"","devices":null,"permissionDenied":false}},"enabled":"yes","draining":false,"version":"1","resourcePools":["default"],"slotStats":{"typeStats":{},"brandStats":{}},"hostname":"h"}""");
        var errors = Check(bad, "Agent");
        Assert.Contains(errors, e => e.StartsWith("$.id:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.registeredTime:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.slots:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.containers[c].state:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.containers[c].devices:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.addresses: missing", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.enabled:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.hostname: not a field", StringComparison.Ordinal));
        Assert.Equal(8, errors.Count);
    }

    [Fact]
    public async Task EveryEndpoint_AnswersWithUpstreamsMessageShape()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true);
        await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var client = await cluster.LoginAsync();
        var errors = new List<string>();

        async Task<JsonNode?> Call(HttpMethod method, string path, string? body, string message, DeterminedClient? as_ = null)
        {
            using var response = await (as_ ?? client).SendAsync(method, path, body is null ? null : new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{method} {path}: {(int)response.StatusCode} {text}");
            var node = JsonNode.Parse(text);
            errors.AddRange(Check(node, message, $"{method} /{path}"));
            return node;
        }

        await Call(HttpMethod.Get, "api/v1/master", null, "GetMasterResponse");
        await Call(HttpMethod.Get, "api/v1/me", null, "CurrentUserResponse");
        await Call(HttpMethod.Get, "api/v1/agents", null, "GetAgentsResponse");
        await Call(HttpMethod.Get, "api/v1/workspaces", null, "GetWorkspacesResponse");
        var launched = await Call(HttpMethod.Post, "api/v1/commands", """{"config":{"entrypoint":["sh","-c","echo shaped; echo oops >&2; exit 3"]}}""", "LaunchCommandResponse");
        var taskId = (string)launched!["command"]!["id"]!;
        await Call(HttpMethod.Get, "api/v1/agents", null, "GetAgentsResponse"); // with a container
        var sleeper = await Call(HttpMethod.Post, "api/v1/commands", """{"config":{"entrypoint":["sleep","60"],"description":"sleeper"}}""", "LaunchCommandResponse");
        var sleeperId = (string)sleeper!["command"]!["id"]!;
        Assert.True(Guid.TryParse(sleeperId, out _), $"task ids are UUIDs, as upstream's CLI requires: {sleeperId}");
        var (task, _) = await Cluster.WaitForTaskAsync(client, taskId);
        var active = await Call(HttpMethod.Get, "api/v1/tasks", null, "GetTasksResponse");
        var summary = active!["allocationIdToSummary"]!.AsObject();
        Assert.Equal(sleeperId, (string?)Assert.Single(summary).Value!["taskId"]); // the ended task is not active
        var commands = await Call(HttpMethod.Get, "api/v1/commands", null, "GetCommandsResponse");
        Assert.Equal([taskId, sleeperId], commands!["commands"]!.AsArray().Select(c => (string?)c!["id"]));
        var command = await Call(HttpMethod.Get, $"api/v1/commands/{sleeperId}", null, "GetCommandResponse");
        Assert.Equal("sleeper", (string?)command!["command"]!["description"]);
        var finished = await Call(HttpMethod.Get, $"api/v1/tasks/{taskId}", null, "GetTaskResponse");
        Assert.Equal(3, Cluster.ExitCode(task));
        Assert.Equal("STATE_TERMINATED", (string?)finished!["task"]!["allocations"]![0]!["state"]);
        Assert.Equal("TASK_TYPE_COMMAND", (string?)finished["task"]!["taskType"]);

        using (var logs = await client.SendAsync(HttpMethod.Get, $"api/v1/tasks/{taskId}/logs"))
        {
            var lines = (await logs.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains(lines, l => l.Contains("\"log\":\"shaped\"", StringComparison.Ordinal));
            // The flat line upstream's CLI prints as is: "[time] container8 || LEVEL: log" with its newline.
            Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch((string)JsonNode.Parse(l)!["result"]!["message"]!, @"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\] [0-9a-f]{8} \|\| INFO: shaped\n$"));
            Assert.Contains(lines, l => l.Contains("\"stdtype\":\"stderr\"", StringComparison.Ordinal));
            foreach (var line in lines)
            {
                var wrapper = JsonNode.Parse(line)!.AsObject();
                Assert.Equal(["result"], wrapper.Select(p => p.Key));
                errors.AddRange(Check(wrapper["result"], "TaskLogsResponse", "GET logs line"));
            }
        }

        // Login and logout on a separate client (the test's own session stays).
        using var other = await cluster.LoginAsync();
        using (var login = await other.SendAsync(HttpMethod.Post, "api/v1/auth/login", new StringContent("""{"username":"determined","password":""}""", Encoding.UTF8, "application/json")))
        {
            errors.AddRange(Check(JsonNode.Parse(await login.Content.ReadAsStringAsync()), "LoginResponse", "POST login"));
        }

        await Call(HttpMethod.Post, "api/v1/auth/logout", "{}", "LogoutResponse", other);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public async Task TaskLogs_Follow_StreamsUntilTheTaskEnds()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true);
        await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var client = await cluster.LoginAsync();
        var taskId = await Cluster.LaunchTaskAsync(client, command: ["sh", "-c", "echo first; sleep 1; echo last"]);

        // Opened while the task runs; ends by itself when the task ends, with every line.
        using var logs = await client.SendAsync(HttpMethod.Get, $"api/v1/tasks/{taskId}/logs?follow=true");
        var lines = Cluster.ReadStream(await logs.Content.ReadAsStringAsync()).Select(l => (string?)l!["log"]).ToList();

        Assert.Contains("first", lines);
        Assert.Contains("last", lines);
    }
}
