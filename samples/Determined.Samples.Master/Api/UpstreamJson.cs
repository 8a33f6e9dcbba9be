using System.Globalization;
using System.Text.Json.Nodes;
using Determined.Samples.Common.Protocol;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Tasks;

namespace Determined.Samples.Master.Api;

/// <summary>
/// The REST answers in the shape upstream's master gives them: the messages of <c>proto/src/determined/**.proto</c> as
/// grpc-gateway v1 writes them with <c>runtime.JSONPb{EmitDefaults: true}</c> (lowerCamelCase names, every field
/// present, unset messages <c>null</c>, unset proto3 <c>optional</c> fields left out, enums by name, Timestamps in RFC 3339
/// with 0, 3, 6 or 9 fractional digits).
/// </summary>
public static class UpstreamJson
{
    /// <summary><c>google.protobuf.Timestamp</c> as protojson writes it.</summary>
    public static string Timestamp(DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        var fraction = utc.Ticks % TimeSpan.TicksPerSecond;
        var format = fraction == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'"
            : fraction % 10_000 == 0 ? "yyyy-MM-dd'T'HH:mm:ss.fff'Z'"
            : fraction % 10 == 0 ? "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'"
            : "yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'";
        return utc.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>Go's <c>time.Time.String()</c> ("2006-01-02 15:04:05.999999999 -0700 MST"), which upstream's
    /// <c>taskv1.Allocation</c> carries in its string <c>start_time</c>/<c>end_time</c>.</summary>
    public static string GoTimeString(DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        var text = utc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        var fraction = utc.Ticks % TimeSpan.TicksPerSecond;
        if (fraction != 0)
        {
            text += "." + (fraction * 100).ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0');
        }

        return text + " +0000 UTC";
    }

    /// <summary><c>taskv1.State</c> from an allocation's (container's) state, as upstream's <c>AllocationState.Proto()</c>.</summary>
    public static string TaskState(string containerState) => containerState switch
    {
        ContainerStates.Pulling => "STATE_PULLING",
        ContainerStates.Starting => "STATE_STARTING",
        ContainerStates.Running => "STATE_RUNNING",
        ContainerStates.Terminated => "STATE_TERMINATED",
        _ => "STATE_UNSPECIFIED", // ASSIGNED and PENDING have no task state upstream either
    };

    /// <summary><c>containerv1.State</c>.</summary>
    public static string ContainerState(string containerState) => containerState switch
    {
        ContainerStates.Assigned => "STATE_ASSIGNED",
        ContainerStates.Pulling => "STATE_PULLING",
        ContainerStates.Starting => "STATE_STARTING",
        ContainerStates.Running => "STATE_RUNNING",
        ContainerStates.Terminated => "STATE_TERMINATED",
        _ => "STATE_UNSPECIFIED",
    };

    /// <summary><c>devicev1.Type</c> from <c>device.Type</c> ("cpu", "cuda", "rocm").</summary>
    public static string DeviceType(string type) => type switch
    {
        "cpu" => "TYPE_CPU",
        "cuda" => "TYPE_CUDA",
        "rocm" => "TYPE_ROCM",
        _ => "TYPE_UNSPECIFIED",
    };

    /// <summary><c>userv1.User</c>.</summary>
    public static JsonObject User(UserRecord user) => new()
    {
        ["id"] = user.Id,
        ["username"] = user.Username,
        ["admin"] = user.Admin,
        ["active"] = true,
        ["agentUserGroup"] = null,
        ["displayName"] = user.Username,
        ["modifiedAt"] = Timestamp(user.ModifiedAt),
        ["remote"] = false,
    };

    /// <summary><c>commandv1.Command</c> for a launched task (upstream's command id is its task id).</summary>
    public static JsonObject Command(TaskRecord task, UserRecord user) => new()
    {
        ["id"] = task.TaskId,
        ["description"] = task.Description,
        ["state"] = TaskState(task.State),
        ["startTime"] = Timestamp(task.StartTime),
        ["container"] = Container(task),
        ["displayName"] = user.Username,
        ["userId"] = user.Id,
        ["username"] = user.Username,
        ["resourcePool"] = task.ResourcePool,
        ["exitStatus"] = task.State == ContainerStates.Terminated ? task.ExitReason ?? "allocation exited successfully" : string.Empty,
        ["jobId"] = task.JobId,
        ["workspaceId"] = 1,
    };

    /// <summary><c>containerv1.Container</c>.</summary>
    public static JsonObject Container(TaskRecord task) => new()
    {
        ["parent"] = task.TaskId,
        ["id"] = task.ContainerId,
        ["state"] = ContainerState(task.State),
        ["devices"] = new JsonArray([.. task.Devices.Select(Device)]),
        ["permissionDenied"] = false,
    };

    /// <summary><c>devicev1.Device</c>.</summary>
    public static JsonObject Device(Device device) => new()
    {
        ["id"] = device.Id,
        ["brand"] = device.Brand,
        ["uuid"] = device.Uuid,
        ["type"] = DeviceType(device.Type),
    };

    /// <summary><c>taskv1.Task</c> with its one allocation.</summary>
    public static JsonObject Task(TaskRecord task)
    {
        var allocation = new JsonObject
        {
            ["taskId"] = task.TaskId,
            ["state"] = TaskState(task.State),
            ["isReady"] = task.State == ContainerStates.Running,
            ["startTime"] = GoTimeString(task.StartTime),
        };
        if (task.EndTime is { } end)
        {
            allocation["endTime"] = GoTimeString(end);
        }

        allocation["allocationId"] = task.AllocationId;
        allocation["slots"] = task.Devices.Count;
        if (task.ExitReason is { } reason)
        {
            allocation["exitReason"] = reason;
        }

        if (task.ExitCode is { } code)
        {
            allocation["statusCode"] = code;
        }

        var result = new JsonObject
        {
            ["taskId"] = task.TaskId,
            ["taskType"] = "TASK_TYPE_COMMAND",
            ["allocations"] = new JsonArray(allocation),
            ["startTime"] = Timestamp(task.StartTime),
        };
        if (task.EndTime is { } taskEnd)
        {
            result["endTime"] = Timestamp(taskEnd);
        }

        return result;
    }

    /// <summary>
    /// The flat line upstream's UIs and CLI print (<c>model.TaskLog.Message()</c>): "[time] container8 || LEVEL: log", the
    /// time with 6 fractional digits. Upstream's log text ends with its newline; here one is added when it does not (the
    /// CLI prints <c>message</c> without one of its own).
    /// </summary>
    public static string FlatMessage(TaskRecord task, TaskLogEntry entry)
    {
        var container = task.ContainerId.Length > 8 ? task.ContainerId[..8] : task.ContainerId;
        var level = entry.Level.StartsWith("LOG_LEVEL_", StringComparison.Ordinal) ? entry.Level["LOG_LEVEL_".Length..] : entry.Level;
        var time = entry.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
        // The line is printed as is by upstream's CLI: control characters other than the final newline are escaped, so a
        // task cannot forge other lines or send terminal escape sequences.
        var text = entry.Log.EndsWith('\n') ? entry.Log[..^1] : entry.Log;
        var printable = new System.Text.StringBuilder(text.Length);
        foreach (var c in text)
        {
            _ = c switch
            {
                '\n' => printable.Append("\\n"),
                '\r' => printable.Append("\\r"),
                '\t' => printable.Append('\t'),
                _ when char.IsControl(c) => printable.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => printable.Append(c),
            };
        }

        return $"[{time}] {container} || {level}: {printable}\n";
    }

    /// <summary>One <c>TaskLogsResponse</c>, wrapped as grpc-gateway wraps each message of a server stream.</summary>
    public static JsonObject TaskLogLine(TaskRecord task, TaskLogEntry entry) => new()
    {
        ["result"] = new JsonObject
        {
            ["id"] = entry.Id.ToString(CultureInfo.InvariantCulture),
            ["timestamp"] = Timestamp(entry.Timestamp),
            ["message"] = FlatMessage(task, entry),
            ["level"] = entry.Level,
            ["taskId"] = task.TaskId,
            ["allocationId"] = task.AllocationId,
            ["agentId"] = task.AgentId,
            ["containerId"] = task.ContainerId,
            ["log"] = entry.Log,
            ["source"] = entry.Source,
            ["stdtype"] = entry.StdType,
        },
    };

    /// <summary><c>agentv1.Agent</c>.</summary>
    public static JsonObject Agent(AgentConnection agent, IEnumerable<TaskRecord> running)
    {
        var containers = new JsonObject();
        foreach (var task in running)
        {
            containers[task.ContainerId] = Container(task);
        }

        var slots = new JsonObject();
        foreach (var device in agent.Devices)
        {
            var id = device.Id.ToString(CultureInfo.InvariantCulture);
            slots[id] = new JsonObject
            {
                ["id"] = id,
                ["device"] = Device(device),
                ["enabled"] = true,
                ["container"] = running.FirstOrDefault(t => t.Devices.Any(d => d.Uuid == device.Uuid)) is { } user ? Container(user) : null,
                ["draining"] = false,
            };
        }

        var byType = new JsonObject();
        var byBrand = new JsonObject();
        foreach (var group in agent.Devices.GroupBy(d => DeviceType(d.Type)))
        {
            byType[group.Key] = DeviceStats(group.Count());
        }

        foreach (var group in agent.Devices.GroupBy(d => d.Brand))
        {
            byBrand[group.Key] = DeviceStats(group.Count());
        }

        return new JsonObject
        {
            ["id"] = agent.Id,
            ["registeredTime"] = Timestamp(agent.RegisteredTime),
            ["slots"] = slots,
            ["containers"] = containers,
            ["addresses"] = new JsonArray([.. agent.Addresses.Select(a => (JsonNode)a)]),
            ["enabled"] = true,
            ["draining"] = false,
            ["version"] = agent.Version,
            ["resourcePools"] = new JsonArray(agent.ResourcePool),
            ["slotStats"] = new JsonObject { ["typeStats"] = byType, ["brandStats"] = byBrand },
        };

        static JsonObject DeviceStats(int total) => new() { ["states"] = new JsonObject(), ["draining"] = 0, ["disabled"] = 0, ["total"] = total };
    }

    /// <summary><c>taskv1.AllocationSummary</c> of a task that has not ended (upstream lists active allocations).</summary>
    public static JsonObject AllocationSummary(TaskRecord task)
    {
        var resources = new JsonObject
        {
            ["resourcesId"] = task.ContainerId,
            ["resourcesType"] = "docker",
            ["allocationId"] = task.AllocationId,
            ["agentDevices"] = new JsonObject { [task.AgentId] = new JsonObject { ["devices"] = new JsonArray([.. task.Devices.Select(Device)]) } },
            ["containerId"] = task.ContainerId,
        };
        return new JsonObject
        {
            ["taskId"] = task.TaskId,
            ["allocationId"] = task.AllocationId,
            ["name"] = task.Description,
            ["registeredTime"] = Timestamp(task.StartTime),
            ["resourcePool"] = task.ResourcePool,
            ["slotsNeeded"] = task.Devices.Count,
            ["resources"] = new JsonArray(resources),
            ["schedulerType"] = "priority",
            ["proxyPorts"] = new JsonArray(),
        };
    }

    /// <summary><c>workspacev1.Workspace</c>: upstream's built-in "Uncategorized" workspace (id 1), where commands land.</summary>
    public static JsonObject DefaultWorkspace() => new()
    {
        ["id"] = 1,
        ["name"] = "Uncategorized",
        ["archived"] = false,
        ["username"] = "admin",
        ["immutable"] = true,
        ["numProjects"] = 1,
        ["pinned"] = false,
        ["userId"] = 1,
        ["numExperiments"] = 0,
        ["state"] = "WORKSPACE_STATE_UNSPECIFIED",
        ["errorMessage"] = string.Empty,
        ["defaultComputePool"] = string.Empty,
        ["defaultAuxPool"] = string.Empty,
    };

    /// <summary><c>apiv1.Pagination</c> for an unpaged list of <paramref name="count"/> items.</summary>
    public static JsonObject Pagination(int count) => new()
    {
        ["offset"] = 0,
        ["limit"] = 0,
        ["startIndex"] = 0,
        ["endIndex"] = count,
        ["total"] = count,
    };
}
