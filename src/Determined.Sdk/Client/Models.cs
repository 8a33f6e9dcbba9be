using System.Text.Json.Serialization;

namespace Determined.Sdk;

/// <summary>The master's <c>GET /info</c> answer (snake_case, unauthenticated).</summary>
public sealed class MasterInfo
{
    /// <summary>Gets or sets the master version.</summary>
    [JsonPropertyName("version")]
    public string? Version { get; set; }

    /// <summary>Gets or sets the master id.</summary>
    [JsonPropertyName("master_id")]
    public string? MasterId { get; set; }

    /// <summary>Gets or sets the cluster id.</summary>
    [JsonPropertyName("cluster_id")]
    public string? ClusterId { get; set; }

    /// <summary>Gets or sets the cluster name.</summary>
    [JsonPropertyName("cluster_name")]
    public string? ClusterName { get; set; }

    /// <summary>Gets or sets a value indicating whether the master reports telemetry (<c>telemetry.enabled</c>).</summary>
    [JsonIgnore]
    public bool TelemetryEnabled { get; set; }

    [JsonInclude]
    [JsonPropertyName("telemetry")]
    internal TelemetryJson? Telemetry
    {
        get => new() { Enabled = TelemetryEnabled };
        set => TelemetryEnabled = value?.Enabled == true;
    }
}

/// <summary>The <c>telemetry</c> object of <c>/info</c> (Go's <c>TelemetryInfo</c>).</summary>
internal sealed class TelemetryJson
{
    [JsonPropertyName("enabled")]
    public bool Enabled { get; set; }
}

/// <summary>The master's <c>GET /api/v1/master</c> answer (camelCase).</summary>
public sealed class MasterDetails
{
    /// <summary>Gets or sets the master version.</summary>
    [JsonPropertyName("version")]
    public string? Version { get; set; }

    /// <summary>Gets or sets the master id.</summary>
    [JsonPropertyName("masterId")]
    public string? MasterId { get; set; }

    /// <summary>Gets or sets the cluster id.</summary>
    [JsonPropertyName("clusterId")]
    public string? ClusterId { get; set; }

    /// <summary>Gets or sets the cluster name.</summary>
    [JsonPropertyName("clusterName")]
    public string? ClusterName { get; set; }

    /// <summary>Gets or sets a value indicating whether telemetry is enabled.</summary>
    [JsonPropertyName("telemetryEnabled")]
    public bool TelemetryEnabled { get; set; }
}

/// <summary>A Determined user (<c>GET /api/v1/me</c>).</summary>
public sealed class DeterminedUser
{
    /// <summary>Gets or sets the user id.</summary>
    [JsonPropertyName("id")]
    public int Id { get; set; }

    /// <summary>Gets or sets the user name.</summary>
    [JsonPropertyName("username")]
    public string? Username { get; set; }

    /// <summary>Gets or sets a value indicating whether the user is an administrator.</summary>
    [JsonPropertyName("admin")]
    public bool Admin { get; set; }

    /// <summary>Gets or sets a value indicating whether the user is active.</summary>
    [JsonPropertyName("active")]
    public bool Active { get; set; }

    /// <summary>Gets or sets the display name.</summary>
    [JsonPropertyName("displayName")]
    public string? DisplayName { get; set; }
}

/// <summary>The result of <see cref="DeterminedClient.LoginAsync"/>.</summary>
public sealed class LoginResult
{
    /// <summary>Gets or sets the session token (secret: never log it).</summary>
    [JsonPropertyName("token")]
    public string? Token { get; set; }

    /// <summary>Gets or sets the logged-in user.</summary>
    [JsonPropertyName("user")]
    public DeterminedUser? User { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"LoginResult {{ User = {User?.Username}, Token = (hidden) }}";
}

/// <summary>One task log line for <c>POST /api/v1/task/logs</c>.</summary>
public sealed class TaskLog
{
    /// <summary>Gets or sets the task id.</summary>
    [JsonPropertyName("taskId")]
    public string? TaskId { get; set; }

    /// <summary>Gets or sets the allocation id.</summary>
    [JsonPropertyName("allocationId")]
    public string? AllocationId { get; set; }

    /// <summary>Gets or sets the agent id.</summary>
    [JsonPropertyName("agentId")]
    public string? AgentId { get; set; }

    /// <summary>Gets or sets the container id.</summary>
    [JsonPropertyName("containerId")]
    public string? ContainerId { get; set; }

    /// <summary>Gets or sets the time of the line.</summary>
    [JsonPropertyName("timestamp")]
    public DateTimeOffset? Timestamp { get; set; }

    /// <summary>Gets or sets the level: one of <see cref="TaskLogLevel"/>.</summary>
    [JsonPropertyName("level")]
    public string? Level { get; set; }

    /// <summary>Gets or sets the text.</summary>
    [JsonPropertyName("log")]
    public string? Log { get; set; }

    /// <summary>Gets or sets the source (e.g. <c>task</c>).</summary>
    [JsonPropertyName("source")]
    public string? Source { get; set; }

    /// <summary>Gets or sets the stream: one of <see cref="TaskLogStdType"/>.</summary>
    [JsonPropertyName("stdtype")]
    public string? StdType { get; set; }
}

/// <summary>The values of <see cref="TaskLog.Level"/>: upstream's <c>logv1.LogLevel</c> names.</summary>
public static class TaskLogLevel
{
    /// <summary>Trace.</summary>
    public const string Trace = "LOG_LEVEL_TRACE";

    /// <summary>Debug.</summary>
    public const string Debug = "LOG_LEVEL_DEBUG";

    /// <summary>Information (the default of upstream's log shipper).</summary>
    public const string Info = "LOG_LEVEL_INFO";

    /// <summary>Warning.</summary>
    public const string Warning = "LOG_LEVEL_WARNING";

    /// <summary>Error.</summary>
    public const string Error = "LOG_LEVEL_ERROR";

    /// <summary>Critical.</summary>
    public const string Critical = "LOG_LEVEL_CRITICAL";
}

/// <summary>The values of <see cref="TaskLog.StdType"/>: the output stream a line came from.</summary>
public static class TaskLogStdType
{
    /// <summary>Standard output.</summary>
    public const string Stdout = "stdout";

    /// <summary>Standard error.</summary>
    public const string Stderr = "stderr";
}

internal sealed class LoginRequest
{
    [JsonPropertyName("username")]
    public string? Username { get; set; }

    [JsonPropertyName("password")]
    public string? Password { get; set; }

    [JsonPropertyName("isHashed")]
    public bool IsHashed { get; set; }
}

internal sealed class MeResponse
{
    [JsonPropertyName("user")]
    public DeterminedUser? User { get; set; }
}

internal sealed class TaskLogsRequest
{
    [JsonPropertyName("logs")]
    public IList<TaskLog> Logs { get; set; } = [];
}

internal sealed class ErrorEnvelope
{
    [JsonPropertyName("error")]
    public ErrorBody? Error { get; set; }

    // grpc-gateway's own shape
    [JsonPropertyName("code")]
    public int? Code { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }
}

internal sealed class ErrorBody
{
    [JsonPropertyName("code")]
    public int Code { get; set; }

    [JsonPropertyName("reason")]
    public string? Reason { get; set; }

    [JsonPropertyName("error")]
    public string? Error { get; set; }
}

[JsonSerializable(typeof(MasterInfo))]
[JsonSerializable(typeof(MasterDetails))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(LoginResult))]
[JsonSerializable(typeof(MeResponse))]
[JsonSerializable(typeof(TaskLogsRequest))]
[JsonSerializable(typeof(ErrorEnvelope))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class SdkJsonContext : JsonSerializerContext;
