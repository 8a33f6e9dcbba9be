using Determined.Testing;

namespace Determined.Sdk.Tests;

/// <summary>What the agent injects into a task, for a <see cref="TestPki"/> (needs <see cref="FakeMaster"/>, so it lives here).</summary>
internal static class TestPkiTaskEnvironment
{
    /// <summary>A task's environment: what the agent injects.</summary>
    public static Dictionary<string, string?> TaskEnvironment(this TestPki pki, Uri master, string? certName = TestPki.CiName) => new()
    {
        ["DET_MASTER"] = master.GetLeftPart(UriPartial.Authority),
        ["DET_MASTER_HOST"] = master.Host,
        ["DET_MASTER_ADDR"] = master.Host,
        ["DET_MASTER_PORT"] = master.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["DET_USE_TLS"] = "true",
        ["DET_MASTER_CERT_FILE"] = pki.ChainFile,
        ["DET_MASTER_CERT_NAME"] = certName,
        ["DET_SESSION_TOKEN"] = FakeMaster.AllocationToken,
        ["DET_TASK_ID"] = "task-1",
        ["DET_ALLOCATION_ID"] = "task-1.alloc-1",
        ["DET_TASK_TYPE"] = "COMMAND",
        ["DET_SLOT_IDS"] = "[0,1]",
        ["DET_USER"] = "task-owner",
        ["DET_DEBUG_CONFIG_PATH"] = pki.ConfigDir,
    };
}
