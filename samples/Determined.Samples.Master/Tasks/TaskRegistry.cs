using System.Collections.Concurrent;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Api;
using Determined.Samples.Common.Protocol;

namespace Determined.Samples.Master.Tasks;

public sealed class TaskLogEntry
{
    public long Id { get; init; }
    public DateTimeOffset Timestamp { get; init; }
    public string Level { get; init; } = "LOG_LEVEL_INFO";
    public string Log { get; init; } = "";
    public string StdType { get; init; } = "stdout";
    public string Source { get; init; } = "agent";
}

public sealed class TaskRecord
{
    public required string TaskId { get; init; }
    public required string AllocationId { get; init; }
    public required string ContainerId { get; init; }
    public required string AgentId { get; init; }
    public required string User { get; init; }
    public required IReadOnlyList<string> Command { get; init; }
    public required string Description { get; init; }
    public required string ResourcePool { get; init; }
    public required string JobId { get; init; }
    public required IReadOnlyList<Device> Devices { get; init; }
    public DateTimeOffset StartTime { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? EndTime { get; set; }
    public string State { get; set; } = ContainerStates.Assigned;
    public int? ExitCode { get; set; }

    /// <summary>Why the allocation ended badly (upstream's <c>exit_reason</c>); null while running or after a clean exit.</summary>
    public string? ExitReason { get; set; }

    public TaskLogBuffer Logs { get; } = new();

    /// <summary>The tokens issued for this task (revoked when it ends).</summary>
    public string?[] Tokens { get; set; } = [];
}

/// <summary>Launches tasks on connected agents and records their state and logs (from the agent and from the task).</summary>
public sealed partial class TaskRegistry(AgentDirectory agents, AuthService auth, MasterIdentity identity, Func<string> masterChainPem, ILogger<TaskRegistry> logger)
{
    private readonly ConcurrentDictionary<string, TaskRecord> _tasks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskRecord> _byContainer = new(StringComparer.Ordinal);

    public TaskRecord? Get(string taskId) => _tasks.GetValueOrDefault(taskId);

    /// <summary>Every task, oldest first.</summary>
    public IEnumerable<TaskRecord> All => _tasks.Values.OrderBy(t => t.StartTime);

    /// <summary>The tasks of an agent that have not ended.</summary>
    public IEnumerable<TaskRecord> RunningOn(string agentId) => _tasks.Values.Where(t => t.AgentId == agentId && t.State != ContainerStates.Terminated);

    public async Task<TaskRecord> LaunchAsync(IReadOnlyList<string> command, string? description, UserRecord user, string? agentId, CancellationToken cancellationToken)
    {
        var agent = agentId is null ? agents.Connected.FirstOrDefault() : agents.Get(agentId);
        if (agent is null)
        {
            throw new InvalidOperationException(agentId is null ? "no agent is connected" : $"agent '{agentId}' is not connected");
        }

        // A UUID, as upstream's task ids (its CLI refuses anything else for `det task logs`).
        var taskId = Guid.NewGuid().ToString();
        var record = new TaskRecord
        {
            TaskId = taskId,
            AllocationId = taskId + ".1",
            ContainerId = Guid.NewGuid().ToString("N")[..16],
            AgentId = agent.Id,
            User = user.Username,
            Command = command,
            Description = description ?? $"Command ({string.Join(' ', command)})",
            ResourcePool = agent.ResourcePool,
            JobId = Guid.NewGuid().ToString(),
            Devices = [.. agent.Devices],
        };
        _tasks[taskId] = record;
        _byContainer[record.ContainerId] = record;
        var allocationToken = auth.IssueAllocationToken(new AllocationIdentity(record.TaskId, record.AllocationId, user.Username));
        var taskUserToken = auth.IssueUserToken(user.Username);
        record.Tokens = [allocationToken, taskUserToken];
        var env = new Dictionary<string, string>
        {
            ["DET_CLUSTER_ID"] = identity.ClusterId,
            ["DET_MASTER_ID"] = identity.MasterId,
            ["DET_TASK_ID"] = record.TaskId,
            ["DET_ALLOCATION_ID"] = record.AllocationId,
            ["DET_RESOURCES_ID"] = record.ContainerId,
            ["DET_TASK_TYPE"] = "COMMAND",
            ["DET_SESSION_TOKEN"] = allocationToken,
            ["DET_USER"] = user.Username,
            ["DET_USER_TOKEN"] = taskUserToken,
        };
        try
        {
            await agent.SendAsync(new MasterMessage
            {
                StartContainer = new StartContainer
                {
                    Container = new ContainerInfo { ID = record.ContainerId, State = ContainerStates.Assigned, Devices = [.. record.Devices], Description = "task " + record.TaskId },
                    Spec = BuildSpec(command, env, masterChainPem()),
                },
            }, cancellationToken);
        }
        catch
        {
            auth.Revoke(record.Tokens); // the task never started: its credentials never work
            throw;
        }
        Launched(logger, record.TaskId, record.AllocationId, SafeText.LogField(agent.Id), user.Username);
        return record;
    }

    /// <summary>
    /// The task as upstream's <c>cproto.Spec</c>: the command as the container's Cmd, the task's ids and tokens as its
    /// "KEY=VALUE" Env, and the master's served chain (PEM, no key) as a root-owned 0644 file at the container's
    /// certificate path in RunSpec.Archives, as upstream's masterCertArchive.
    /// </summary>
    private static ContainerSpec BuildSpec(IReadOnlyList<string> command, Dictionary<string, string> env, string masterChainPem)
    {
        var archives = new List<RunArchive>();
        if (!string.IsNullOrEmpty(masterChainPem))
        {
            archives.Add(new RunArchive
            {
                Path = "/",
                Archive =
                [
                    new ArchiveItem
                    {
                        Path = ContainerPaths.MasterCertificate,
                        Type = ArchiveItem.TypeRegular,
                        Content = System.Text.Encoding.UTF8.GetBytes(masterChainPem),
                        Mode = 0b110_100_100, // 0644
                        ModifiedTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                        IsRootItem = true,
                    },
                ],
            });
        }

        return new ContainerSpec
        {
            TaskType = "COMMAND",
            RunSpec = new RunSpec
            {
                ContainerConfig = new DockerContainerConfig { Cmd = [.. command], Env = [.. env.Select(e => e.Key + "=" + e.Value)] },
                Archives = archives,
            },
        };
    }

    public void OnStateChanged(string agentId, ContainerStateChanged change)
    {
        if (_byContainer.TryGetValue(change.Container.ID, out var record) && record.AgentId == agentId && record.State != ContainerStates.Terminated)
        {
            record.State = change.Container.State;
            if (change.ContainerStopped is { } stopped)
            {
                record.ExitCode = stopped.EffectiveExitCode;
                record.ExitReason = stopped.Failure?.ErrMsg;
            }

            if (record.State == ContainerStates.Terminated)
            {
                record.EndTime ??= DateTimeOffset.UtcNow;
                // A task's credentials end with it.
                auth.Revoke(record.Tokens);
            }

            StateChanged(logger, record.TaskId, record.State, record.ExitCode is { } code ? $" (exit code {code})" : string.Empty);
        }
    }

    /// <summary>The agent's session ended: the credentials of its tasks that had not ended are revoked.</summary>
    public void OnAgentGone(string agentId)
    {
        foreach (var record in RunningOn(agentId).ToList())
        {
            // Its credentials end now, not in 30 days, and the task ends for the master: nothing will report on it.
            auth.Revoke(record.Tokens);
            record.ExitReason = $"the agent {agentId} disconnected before the task ended";
            record.EndTime = DateTimeOffset.UtcNow;
            record.State = ContainerStates.Terminated;
            EndedWithItsAgent(logger, record.TaskId, SafeText.LogField(agentId));
        }
    }

    public void OnLog(string agentId, ContainerLog log)
    {
        if (_byContainer.TryGetValue(log.ContainerID, out var record) && record.AgentId == agentId)
        {
            record.Logs.Append(
                log.Timestamp,
                ToLogLevel(log.Level),
                log.RunMessage?.Value ?? log.AuxMessage ?? log.PullMessage ?? string.Empty,
                log.RunMessage?.StdType == RunMessage.Stderr ? "stderr" : "stdout",
                "agent");
        }
    }

    /// <summary>A log line posted by the task itself (allocation token); it may only write to its own allocation.</summary>
    public bool AddTaskLog(AllocationIdentity allocation, string? allocationId, string text, string stdType)
    {
        if (allocationId is not null && allocationId != allocation.AllocationId)
        {
            return false;
        }

        if (!_tasks.TryGetValue(allocation.TaskId, out var record))
        {
            return false;
        }

        record.Logs.Append(DateTimeOffset.UtcNow, "LOG_LEVEL_INFO", text, stdType is "stderr" ? "stderr" : "stdout", "task");
        return true;
    }

    /// <summary><c>logv1.LogLevel</c> from an agent's <c>ContainerLog.Level</c> (upstream's <c>model.LogLevel</c> names).</summary>
    private static string ToLogLevel(string? level) => level?.ToUpperInvariant() switch
    {
        "TRACE" => "LOG_LEVEL_TRACE",
        "DEBUG" => "LOG_LEVEL_DEBUG",
        "WARNING" or "WARN" => "LOG_LEVEL_WARNING",
        "ERROR" => "LOG_LEVEL_ERROR",
        "CRITICAL" => "LOG_LEVEL_CRITICAL",
        _ => "LOG_LEVEL_INFO",
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Launched task {TaskId} (allocation {AllocationId}) on agent {AgentId} for user {User}")]
    private static partial void Launched(ILogger logger, string taskId, string allocationId, string agentId, string user);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} is {State}{Exit}")]
    private static partial void StateChanged(ILogger logger, string taskId, string state, string exit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} ended: its agent {AgentId} disconnected")]
    private static partial void EndedWithItsAgent(ILogger logger, string taskId, string agentId);
}

public sealed record MasterIdentity(string MasterId, string ClusterId, string ClusterName, string Version);
