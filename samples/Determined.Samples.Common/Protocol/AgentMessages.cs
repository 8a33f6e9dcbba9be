using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Determined.Samples.Common.Protocol;

// The agent <-> master websocket protocol, as upstream Determined's Go types (master/pkg/aproto, cproto, device,
// archive, model) encode it with encoding/json: each message is an object with one member per kind, the unused kinds
// null (nil pointers), e.g. {"MasterSetAgentOptions":{...},"StartContainer":null,"SignalContainer":null,"AgentShutdown":null}.
// Member names are the Go field names unless a json tag says otherwise; null is written for nil pointers and slices;
// only `omitempty` members are left out. Decoding is case-insensitive, as Go's.
//
// Naming: our MasterMessage (master → agent) is Go's aproto.AgentMessage; our AgentMessage (agent → master) is Go's
// aproto.MasterMessage (Go names the messages by their receiver).

/// <summary>Master → agent: Go's <c>aproto.AgentMessage</c>.</summary>
public sealed class MasterMessage
{
    public MasterSetAgentOptions? MasterSetAgentOptions { get; set; }
    public StartContainer? StartContainer { get; set; }
    public SignalContainer? SignalContainer { get; set; }
    public AgentShutdown? AgentShutdown { get; set; }
}

/// <summary>Agent → master: Go's <c>aproto.MasterMessage</c>.</summary>
public sealed class AgentMessage
{
    public AgentStarted? AgentStarted { get; set; }
    public ContainerStateChanged? ContainerStateChanged { get; set; }
    public ContainerLog? ContainerLog { get; set; }
    public ContainerStatsRecord? ContainerStatsRecord { get; set; }
}

/// <summary><c>aproto.MasterSetAgentOptions</c>.</summary>
public sealed class MasterSetAgentOptions
{
    public MasterInfoMessage MasterInfo { get; set; } = new();
    public LoggingOptions LoggingOptions { get; set; } = new();
    public List<ContainerReattach>? ContainersToReattach { get; set; } = [];
}

/// <summary><c>aproto.MasterInfo</c> (snake_case json tags).</summary>
public sealed class MasterInfoMessage
{
    [JsonPropertyName("version")] public string Version { get; set; } = "";
    [JsonPropertyName("master_id")] public string MasterId { get; set; } = "";
    [JsonPropertyName("cluster_id")] public string ClusterId { get; set; } = "";
    [JsonPropertyName("cluster_name")] public string ClusterName { get; set; } = "";
    [JsonPropertyName("telemetry")] public TelemetryInfo Telemetry { get; set; } = new();
    [JsonPropertyName("sso_providers")] public List<SsoProviderInfo>? SsoProviders { get; set; } = [];
}

/// <summary><c>aproto.TelemetryInfo</c>.</summary>
public sealed class TelemetryInfo
{
    [JsonPropertyName("enabled")] public bool Enabled { get; set; }

    /// <summary><c>omitempty</c>: left out when null (Go: when empty).</summary>
    [JsonPropertyName("segment_key")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? SegmentKey { get; set; }

    [JsonPropertyName("otel_enabled")] public bool OtelEnabled { get; set; }
    [JsonPropertyName("otel_endpoint")] public string OtelEndpoint { get; set; } = "";
}

/// <summary><c>aproto.SSOProviderInfo</c>.</summary>
public sealed class SsoProviderInfo
{
    [JsonPropertyName("sso_url")] public string SsoUrl { get; set; } = "";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("always_redirect")] public bool AlwaysRedirect { get; set; }
}

/// <summary>
/// <c>model.LoggingConfig</c>: a union tagged by <c>type</c> ("default" has no other member; "elastic" has host, port,
/// security — kept as extension data, the sample only logs through the master).
/// </summary>
public sealed class LoggingOptions
{
    [JsonPropertyName("type")] public string Type { get; set; } = "default";

    [JsonExtensionData] public Dictionary<string, JsonElement>? Other { get; set; }
}

/// <summary><c>aproto.ContainerReattach</c>.</summary>
public sealed class ContainerReattach
{
    public ContainerInfo Container { get; set; } = new();
}

/// <summary><c>aproto.ContainerReattachAck</c>.</summary>
public sealed class ContainerReattachAck
{
    public ContainerInfo Container { get; set; } = new();
    public ContainerFailure? Failure { get; set; }
}

/// <summary><c>aproto.AgentStarted</c>.</summary>
public sealed class AgentStarted
{
    public string Version { get; set; } = "";
    public List<Device>? Devices { get; set; } = [];
    public List<ContainerReattachAck>? ContainersReattached { get; set; } = [];
    public string ResourcePoolName { get; set; } = "default";
}

/// <summary><c>device.Device</c>.</summary>
public sealed class Device
{
    [JsonPropertyName("id")] public int Id { get; set; }
    [JsonPropertyName("brand")] public string Brand { get; set; } = "";
    [JsonPropertyName("uuid")] public string Uuid { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "cpu";
}

/// <summary><c>aproto.StartContainer</c>.</summary>
public sealed class StartContainer
{
    public ContainerInfo Container { get; set; } = new();
    public ContainerSpec Spec { get; set; } = new();
}

/// <summary><c>cproto.Container</c> (lower-case json tags).</summary>
public sealed class ContainerInfo
{
    [JsonPropertyName("id")] public string ID { get; set; } = "";
    [JsonPropertyName("state")] public string State { get; set; } = "";
    [JsonPropertyName("devices")] public List<Device>? Devices { get; set; }
    [JsonPropertyName("description")] public string Description { get; set; } = "";
}

/// <summary><c>cproto.Spec</c>.</summary>
public sealed class ContainerSpec
{
    public string TaskType { get; set; } = "";
    public PullSpec PullSpec { get; set; } = new();
    public RunSpec RunSpec { get; set; } = new();
}

/// <summary><c>cproto.PullSpec</c>; the sample agent pulls nothing.</summary>
public sealed class PullSpec
{
    public bool ForcePull { get; set; }

    /// <summary>Docker's <c>registry.AuthConfig</c>, kept as JSON.</summary>
    public JsonObject? Registry { get; set; }
}

/// <summary><c>cproto.RunSpec</c>.</summary>
public sealed class RunSpec
{
    public DockerContainerConfig ContainerConfig { get; set; } = new();

    /// <summary>Docker's <c>container.HostConfig</c>, kept as JSON (the sample agent runs no container).</summary>
    public JsonObject HostConfig { get; set; } = [];

    public NetworkingConfig NetworkingConfig { get; set; } = new();
    public List<RunArchive>? Archives { get; set; } = [];
    public string DeviceType { get; set; } = "";
    public JsonObject? Registry { get; set; }
}

/// <summary>Docker's <c>container.Config</c> (no json tags but <c>omitempty</c> on some members).</summary>
public sealed class DockerContainerConfig
{
    public string Hostname { get; set; } = "";
    public string Domainname { get; set; } = "";
    public string User { get; set; } = "";
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonObject? ExposedPorts { get; set; }
    public bool Tty { get; set; }
    public bool OpenStdin { get; set; }
    public bool StdinOnce { get; set; }

    /// <summary>"KEY=VALUE" entries.</summary>
    public List<string>? Env { get; set; }

    [JsonConverter(typeof(StrSliceConverter))] public List<string>? Cmd { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonObject? Healthcheck { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool ArgsEscaped { get; set; }
    public string Image { get; set; } = "";
    public JsonObject? Volumes { get; set; }
    public string WorkingDir { get; set; } = "";
    [JsonConverter(typeof(StrSliceConverter))] public List<string>? Entrypoint { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool NetworkDisabled { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? MacAddress { get; set; }
    public List<string>? OnBuild { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? StopSignal { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? StopTimeout { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)][JsonConverter(typeof(StrSliceConverter))] public List<string>? Shell { get; set; }
}

/// <summary>Docker's <c>network.NetworkingConfig</c>.</summary>
public sealed class NetworkingConfig
{
    public JsonObject? EndpointsConfig { get; set; }
}

/// <summary><c>cproto.RunArchive</c>: files copied into the container under <see cref="Path"/>.</summary>
public sealed class RunArchive
{
    public string Path { get; set; } = "/";
    public List<ArchiveItem>? Archive { get; set; } = [];
    public CopyToContainerOptions CopyOptions { get; set; } = new();
}

/// <summary>Docker's <c>types.CopyToContainerOptions</c>.</summary>
public sealed class CopyToContainerOptions
{
    public bool AllowOverwriteDirWithFile { get; set; }
    public bool CopyUIDGID { get; set; }
}

/// <summary><c>archive.Item</c>: one file; <see cref="Content"/> is base64 (Go []byte), <see cref="ModifiedTime"/> Unix seconds.</summary>
public sealed class ArchiveItem
{
    /// <summary>tar.TypeReg ('0').</summary>
    public const byte TypeRegular = (byte)'0';

    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("type")] public byte Type { get; set; } = TypeRegular;
    [JsonPropertyName("content")] public byte[] Content { get; set; } = [];
    [JsonPropertyName("mode")] public uint Mode { get; set; }
    [JsonPropertyName("mtime")] public long ModifiedTime { get; set; }
    [JsonPropertyName("uid")] public int UserId { get; set; }
    [JsonPropertyName("gid")] public int GroupId { get; set; }
    [JsonPropertyName("isRootItem")] public bool IsRootItem { get; set; }
}

/// <summary><c>aproto.SignalContainer</c>; <see cref="Signal"/> is a <c>syscall.Signal</c> number.</summary>
public sealed class SignalContainer
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public string ContainerID { get; set; } = "";
    public int Signal { get; set; } = SigKill;
}

/// <summary><c>aproto.AgentShutdown</c>.</summary>
public sealed class AgentShutdown
{
    public string ErrMsg { get; set; } = "";
}

/// <summary><c>aproto.ContainerStateChanged</c>.</summary>
public sealed class ContainerStateChanged
{
    public ContainerInfo Container { get; set; } = new();
    public ContainerStarted? ContainerStarted { get; set; }
    public ContainerStopped? ContainerStopped { get; set; }
}

/// <summary><c>aproto.ContainerStarted</c>; <see cref="ContainerInfo"/> is Docker's <c>types.ContainerJSON</c>, kept as JSON.</summary>
public sealed class ContainerStarted
{
    public string ProxyAddress { get; set; } = "";
    public JsonObject? ContainerInfo { get; set; }
}

/// <summary><c>aproto.ContainerStopped</c>: <see cref="Failure"/> is null for exit code 0.</summary>
public sealed class ContainerStopped
{
    public ContainerFailure? Failure { get; set; }

    /// <summary>As <c>aproto.ContainerExited</c>: no failure for 0, else "container failed with non-zero exit code".</summary>
    public static ContainerStopped Exited(int exitCode) => new()
    {
        Failure = exitCode == 0 ? null : new ContainerFailure
        {
            FailureType = FailureTypes.ContainerFailed,
            ErrMsg = FailureTypes.ContainerFailed + ": " + exitCode.ToString(CultureInfo.InvariantCulture),
            ExitCode = exitCode,
        },
    };

    /// <summary>The exit code this stop reports: 0 without a failure, the failure's code, or null (failed without one).</summary>
    [JsonIgnore]
    public int? EffectiveExitCode => Failure is null ? 0 : Failure.ExitCode;
}

/// <summary><c>aproto.ContainerFailureError</c>.</summary>
public sealed class ContainerFailure
{
    public string FailureType { get; set; } = "";
    public string ErrMsg { get; set; } = "";
    public int? ExitCode { get; set; }
}

/// <summary><c>aproto.FailureType</c> values.</summary>
public static class FailureTypes
{
    public const string ContainerFailed = "container failed with non-zero exit code";
    public const string ContainerAborted = "container was aborted before it started";
    public const string ContainerMissing = "request for action on unknown container";
    public const string TaskAborted = "task was aborted before the task was started";
    public const string TaskError = "task failed without an associated exit code";
    public const string AgentFailed = "agent failed while the container was running";
    public const string RestoreError = "container failed to restore after agent failure";
    public const string AgentError = "agent failed to launch the container";
}

/// <summary><c>aproto.ContainerLog</c>.</summary>
public sealed class ContainerLog
{
    public string ContainerID { get; set; } = "";
    public DateTimeOffset Timestamp { get; set; }
    public string? Level { get; set; }
    public string? PullMessage { get; set; }
    public RunMessage? RunMessage { get; set; }
    public string? AuxMessage { get; set; }
    public string? Source { get; set; }
    public string? AgentID { get; set; }
}

/// <summary><c>aproto.RunMessage</c>; <see cref="StdType"/> is Docker's <c>stdcopy.StdType</c> (1 stdout, 2 stderr).</summary>
public sealed class RunMessage
{
    public const int Stdout = 1;
    public const int Stderr = 2;

    public string Value { get; set; } = "";
    public int StdType { get; set; } = Stdout;
}

/// <summary><c>aproto.ContainerStatsRecord</c>.</summary>
public sealed class ContainerStatsRecord
{
    public bool EndStats { get; set; }
    public TaskStats? Stats { get; set; }
    public string TaskType { get; set; } = "";
}

/// <summary><c>model.TaskStats</c>.</summary>
public sealed class TaskStats
{
    public string AllocationID { get; set; } = "";
    public string EventType { get; set; } = "";
    public string? ContainerID { get; set; }
    public DateTimeOffset? StartTime { get; set; }
    public DateTimeOffset? EndTime { get; set; }
}

/// <summary><c>cproto.State</c> values.</summary>
public static class ContainerStates
{
    public const string Assigned = "ASSIGNED";
    public const string Pulling = "PULLING";
    public const string Starting = "STARTING";
    public const string Running = "RUNNING";
    public const string Terminated = "TERMINATED";
}

/// <summary>Docker's <c>strslice.StrSlice</c>: written as an array (null when nil), read from an array or a single string.</summary>
public sealed class StrSliceConverter : JsonConverter<List<string>?>
{
    public override bool HandleNull => true;

    public override List<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return [reader.GetString()!];
            case JsonTokenType.StartArray:
                var list = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    list.Add(reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new JsonException("expected a string"));
                }

                return list;
            default:
                throw new JsonException("expected a string or an array of strings");
        }
    }

    public override void Write(Utf8JsonWriter writer, List<string>? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
            return;
        }

        writer.WriteStartArray();
        foreach (var item in value)
        {
            writer.WriteStringValue(item);
        }

        writer.WriteEndArray();
    }
}

/// <summary>Go's <c>time.Time</c> JSON: RFC 3339 with trailing fractional zeros dropped and "Z" for UTC.</summary>
public sealed class GoTimeConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new JsonException("expected an RFC 3339 time");
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var value)
            ? value
            : throw new JsonException("expected an RFC 3339 time");
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        var text = value.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss", CultureInfo.InvariantCulture);
        var fraction = (value.Ticks % TimeSpan.TicksPerSecond).ToString("0000000", CultureInfo.InvariantCulture).TrimEnd('0');
        if (fraction.Length > 0)
        {
            text += "." + fraction;
        }

        text += value.Offset == TimeSpan.Zero ? "Z" : value.ToString("zzz", CultureInfo.InvariantCulture);
        writer.WriteStringValue(text);
    }
}

[JsonSerializable(typeof(MasterMessage))]
[JsonSerializable(typeof(AgentMessage))]
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, Converters = [typeof(GoTimeConverter)])]
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

/// <summary>Well-known paths inside a task's container (upstream master/pkg/tasks).</summary>
public static class ContainerPaths
{
    /// <summary>Where the master's certificate chain is copied (tasks.certPath); DET_MASTER_CERT_FILE points here.</summary>
    public const string MasterCertificate = "/run/determined/etc/ssl/master.crt";
}
