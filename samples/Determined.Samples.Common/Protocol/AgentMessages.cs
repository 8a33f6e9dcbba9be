using System.Text.Json;
using System.Text.Json.Serialization;

namespace Determined.Samples.Common.Protocol;

// Field names are Go-style PascalCase, as Determined's agent protocol. Each message is an object with one member
// naming its kind, e.g. {"MasterSetAgentOptions":{...}}.

public sealed class MasterMessage
{
    public MasterSetAgentOptions? MasterSetAgentOptions { get; set; }
    public StartContainer? StartContainer { get; set; }
    public SignalContainer? SignalContainer { get; set; }
    public AgentShutdown? AgentShutdown { get; set; }
}

public sealed class AgentMessage
{
    public AgentStarted? AgentStarted { get; set; }
    public ContainerStateChanged? ContainerStateChanged { get; set; }
    public ContainerLog? ContainerLog { get; set; }
    public ContainerStatsRecord? ContainerStatsRecord { get; set; }
}

public sealed class MasterSetAgentOptions
{
    public MasterInfoMessage MasterInfo { get; set; } = new();
    public LoggingOptions LoggingOptions { get; set; } = new();
    public List<string> ContainersToReattach { get; set; } = [];
}

public sealed class MasterInfoMessage
{
    [JsonPropertyName("version")] public string Version { get; set; } = "";
    [JsonPropertyName("master_id")] public string MasterId { get; set; } = "";
    [JsonPropertyName("cluster_id")] public string ClusterId { get; set; } = "";
    [JsonPropertyName("cluster_name")] public string ClusterName { get; set; } = "";
}

public sealed class LoggingOptions
{
    [JsonPropertyName("type")] public string Type { get; set; } = "default";
}

public sealed class AgentStarted
{
    public string Version { get; set; } = "";
    public List<Device> Devices { get; set; } = [];
    public List<string> ContainersReattached { get; set; } = [];
    public string ResourcePoolName { get; set; } = "default";
}

public sealed class Device
{
    [JsonPropertyName("id")] public int Id { get; set; }
    [JsonPropertyName("brand")] public string Brand { get; set; } = "";
    [JsonPropertyName("uuid")] public string Uuid { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "cpu";
}

public sealed class StartContainer
{
    public ContainerInfo Container { get; set; } = new();
    public TaskSpec Spec { get; set; } = new();
}

public sealed class ContainerInfo
{
    public string ID { get; set; } = "";
    public string State { get; set; } = "";
}

public sealed class TaskSpec
{
    public string TaskID { get; set; } = "";
    public string AllocationID { get; set; } = "";
    public string TaskType { get; set; } = "COMMAND";
    public List<string> Command { get; set; } = [];
    /// <summary>Task-level environment from the master (ids, tokens, user); the agent adds the connection variables.</summary>
    public Dictionary<string, string> Env { get; set; } = [];
    /// <summary>The master's served certificate chain (PEM, no key); empty without TLS.</summary>
    public string MasterCert { get; set; } = "";
}

public sealed class SignalContainer
{
    public string ContainerID { get; set; } = "";
    public string Signal { get; set; } = "SIGKILL";
}

public sealed class AgentShutdown
{
    public string ErrorMsg { get; set; } = "";
}

public sealed class ContainerStateChanged
{
    public ContainerInfo Container { get; set; } = new();
    public ContainerStopped? ContainerStopped { get; set; }
}

public sealed class ContainerStopped
{
    public int ExitCode { get; set; }
    public string Failure { get; set; } = "";
}

public sealed class ContainerLog
{
    public ContainerInfo Container { get; set; } = new();
    public DateTimeOffset Timestamp { get; set; }
    public RunMessage? RunMessage { get; set; }
    public string? AuxMessage { get; set; }
}

public sealed class RunMessage
{
    public string Value { get; set; } = "";
    public string StdType { get; set; } = "stdout";
}

public sealed class ContainerStatsRecord
{
    public string TaskID { get; set; } = "";
}

public static class ContainerStates
{
    public const string Starting = "STARTING";
    public const string Running = "RUNNING";
    public const string Terminated = "TERMINATED";
}

[JsonSerializable(typeof(MasterMessage))]
[JsonSerializable(typeof(AgentMessage))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
public sealed partial class ProtocolJson : JsonSerializerContext
{
    public static string Serialize(MasterMessage message) => JsonSerializer.Serialize(message, Default.MasterMessage);

    public static string Serialize(AgentMessage message) => JsonSerializer.Serialize(message, Default.AgentMessage);

    /// <summary>Parses a master message; <see langword="null"/> (never an exception) for anything malformed.</summary>
    public static MasterMessage? ParseMaster(string text)
    {
        try
        {
            return JsonSerializer.Deserialize(text, Default.MasterMessage);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Parses an agent message; <see langword="null"/> (never an exception) for anything malformed.</summary>
    public static AgentMessage? ParseAgent(string text)
    {
        try
        {
            return JsonSerializer.Deserialize(text, Default.AgentMessage);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
