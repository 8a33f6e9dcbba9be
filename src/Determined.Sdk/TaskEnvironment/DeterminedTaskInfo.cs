using System.Globalization;
using Determined.Security;

namespace Determined.Sdk;

/// <summary>
/// What a Determined task container is told about itself through its environment (docs/CONFIGURATION.md, "What a task gets"): ids, type,
/// slots and the identity it runs as. Tokens are not exposed here.
/// </summary>
public sealed class DeterminedTaskInfo
{
    private DeterminedTaskInfo()
    {
    }

    /// <summary>Gets <c>DET_TASK_ID</c>.</summary>
    public required string TaskId { get; init; }

    /// <summary>Gets <c>DET_ALLOCATION_ID</c>.</summary>
    public required string AllocationId { get; init; }

    /// <summary>Gets <c>DET_TASK_TYPE</c> (<c>TRIAL</c>, <c>NOTEBOOK</c>, <c>SHELL</c>, <c>COMMAND</c>, <c>TENSORBOARD</c>, <c>CHECKPOINT_GC</c>, <c>GENERIC</c>), or <see langword="null"/>.</summary>
    public string? TaskType { get; init; }

    /// <summary>Gets <c>DET_RESOURCES_ID</c>, or <see langword="null"/>.</summary>
    public string? ResourcesId { get; init; }

    /// <summary>Gets <c>DET_CLUSTER_ID</c>, or <see langword="null"/>.</summary>
    public string? ClusterId { get; init; }

    /// <summary>Gets <c>DET_MASTER_ID</c>, or <see langword="null"/>.</summary>
    public string? MasterId { get; init; }

    /// <summary>Gets <c>DET_AGENT_ID</c>, or <see langword="null"/>.</summary>
    public string? AgentId { get; init; }

    /// <summary>Gets <c>DET_CONTAINER_ID</c>, or <see langword="null"/>.</summary>
    public string? ContainerId { get; init; }

    /// <summary>Gets the slot ids of <c>DET_SLOT_IDS</c> (e.g. <c>[0,1]</c>).</summary>
    public IReadOnlyList<int> SlotIds { get; init; } = [];

    /// <summary>Gets <c>DET_USER</c>, the owner of the task, or <see langword="null"/>.</summary>
    public string? User { get; init; }

    /// <summary>Gets a value indicating whether <c>DET_USE_TLS</c> says the master is reached over TLS.</summary>
    public bool UseTls { get; init; }

    /// <summary>Reads the task's environment.</summary>
    /// <returns>The task information.</returns>
    /// <exception cref="DeterminedException">The process is not running inside a Determined task; the message names the missing variables.</exception>
    public static DeterminedTaskInfo FromEnvironment() => FromEnvironment(null);

    /// <summary>Reads the task's environment through a custom reader.</summary>
    internal static DeterminedTaskInfo FromEnvironment(Func<string, string?>? getEnvironmentVariable)
    {
        var env = new DeterminedEnvironment(getEnvironmentVariable);
        var missing = new[] { DeterminedEnvironment.TaskId, DeterminedEnvironment.AllocationId, DeterminedEnvironment.Master, DeterminedEnvironment.SessionToken }
            .Where(name => env.Get(name) is null)
            .ToList();
        if (missing.Count > 0)
        {
            throw new DeterminedException(
                $"This process is not running inside a Determined task: {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} not set. " +
                "Fix: launch it as a Determined task (the agent injects DET_MASTER, DET_MASTER_CERT_FILE, DET_SESSION_TOKEN, DET_TASK_ID, DET_ALLOCATION_ID, …), or, outside a task, configure the client explicitly (DeterminedClientOptions.MasterUrl and a token).");
        }

        return new DeterminedTaskInfo
        {
            TaskId = env.Get(DeterminedEnvironment.TaskId)!,
            AllocationId = env.Get(DeterminedEnvironment.AllocationId)!,
            TaskType = env.Get(DeterminedEnvironment.TaskType),
            ResourcesId = env.Get(DeterminedEnvironment.ResourcesId),
            ClusterId = env.Get(DeterminedEnvironment.ClusterId),
            MasterId = env.Get(DeterminedEnvironment.MasterId),
            AgentId = env.Get(DeterminedEnvironment.AgentId),
            ContainerId = env.Get(DeterminedEnvironment.ContainerId),
            SlotIds = ParseSlots(env.Get(DeterminedEnvironment.SlotIds)),
            User = env.Get(DeterminedEnvironment.User),
            UseTls = env.GetBoolean(DeterminedEnvironment.UseTls) ?? false,
        };
    }

    private static int[] ParseSlots(string? value)
    {
        if (value is null)
        {
            return [];
        }

        var parts = value.Trim().TrimStart('[').TrimEnd(']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var slots = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out slots[i]))
            {
                throw new DeterminedException($"DET_SLOT_IDS='{value}' is not a list of slot numbers such as [0,1]. Fix: it is set by the agent; do not override it.");
            }
        }

        return slots;
    }
}
