using System.Diagnostics.CodeAnalysis;

namespace Determined;

/// <summary>
/// The one place the SDK reads environment variables (docs/CONFIGURATION.md, "What a task gets"), through an injectable reader; the SDK
/// reaches it through InternalsVisibleTo. Empty values count as unset, as upstream. Booleans are parsed strictly.
/// </summary>
internal sealed class DeterminedEnvironment
{
    /// <summary>Our own variable (not an upstream name) with the expected fingerprint for non-interactive trust.</summary>
    public const string TrustFingerprint = "DETERMINED_TRUST_FINGERPRINT";

    public const string Master = "DET_MASTER";
    public const string MasterAddr = "DET_MASTER_ADDR";
    public const string MasterHost = "DET_MASTER_HOST";
    public const string MasterPort = "DET_MASTER_PORT";
    public const string UseTls = "DET_USE_TLS";
    public const string MasterCertFile = "DET_MASTER_CERT_FILE";
    public const string MasterCertName = "DET_MASTER_CERT_NAME";
    public const string ClusterId = "DET_CLUSTER_ID";
    public const string MasterId = "DET_MASTER_ID";
    public const string AgentId = "DET_AGENT_ID";
    public const string ContainerId = "DET_CONTAINER_ID";
    public const string SlotIds = "DET_SLOT_IDS";
    public const string TaskId = "DET_TASK_ID";
    public const string AllocationId = "DET_ALLOCATION_ID";
    public const string ResourcesId = "DET_RESOURCES_ID";
    public const string TaskType = "DET_TASK_TYPE";
    public const string SessionToken = "DET_SESSION_TOKEN";
    public const string User = "DET_USER";
    public const string UserToken = "DET_USER_TOKEN";
    public const string Password = "DET_PASS";

    private readonly Func<string, string?> _read;

    public DeterminedEnvironment(Func<string, string?>? read = null)
    {
#pragma warning disable RS0030 // The one sanctioned read of the process environment.
        _read = read ?? Environment.GetEnvironmentVariable;
#pragma warning restore RS0030
    }

    /// <summary>The process environment.</summary>
    public static DeterminedEnvironment Process { get; } = new();

    /// <summary>The user's home: <c>HOME</c> (Unix), <c>USERPROFILE</c> on Windows (where a <c>HOME</c> set by Git or MSYS is
    /// not the profile Python's client uses), else the system's answer.</summary>
    public string HomeDirectory =>
        (OperatingSystem.IsWindows() ? Get("USERPROFILE") : Get("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    public string? Get(string name) => _read(name) is { Length: > 0 } value ? value : null;

    public bool TryGet(string name, [NotNullWhen(true)] out string? value)
    {
        value = Get(name);
        return value is not null;
    }

    /// <summary>Strict boolean: true/false/1/0/yes/no (any case); anything else is an error naming the variable.</summary>
    public bool? GetBoolean(string name)
    {
        var value = Get(name);
        if (value is null)
        {
            return null;
        }

        return value.Trim().ToLowerInvariant() switch
        {
            "true" or "1" or "yes" => true,
            "false" or "0" or "no" => false,
            _ => throw new DeterminedConfigurationException($"{name}='{value}' is not a boolean. Fix: set it to true or false (1/0 and yes/no are accepted too)."),
        };
    }
}
