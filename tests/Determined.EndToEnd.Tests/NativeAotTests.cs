using System.Text.Json.Nodes;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// The task sample (generic host, AddDeterminedClient, configuration binding, environment discovery) published with NativeAOT:
/// the publish must show no trimming or AOT warning, and the native binary must run as a real task launched by the agent.
/// </summary>
public sealed class NativeAotTests
{
    [Fact]
    public async Task TaskSample_PublishedWithNativeAot_HasNoWarnings_AndRunsAsATask()
    {
        // The README's command: Release, so the referenced SDK assemblies are ReadyToRun images; NativeAOT compiles their IL.
        var clang = ChildProcess.FindClang();
        Assert.True(clang is not null, "NativeAOT links with clang: install it (apt-get install clang); .ci/run does.");
        var work = Directory.CreateTempSubdirectory("det-aot-task-").FullName;
        try
        {
            var publish = await ChildProcess.PublishNativeAotAsync(
                "samples/Determined.Samples.Task/Determined.Samples.Task.csproj", work, clang!, TimeSpan.FromMinutes(15)); // ~1-2 min on an idle 2-core machine; a loaded one may take many times that
            Assert.True(publish.Run.ExitCode == 0, "NativeAOT publish failed:\n" + publish.Run.Output);
            Assert.True(publish.Warnings.Count == 0, "NativeAOT publish warnings:\n" + string.Join('\n', publish.Warnings));

            var binary = publish.Binary;
            Assert.True(File.Exists(binary), binary + " was not produced");
            File.SetUnixFileMode(work, (UnixFileMode)0b111_101_101);

            await using var cluster = new Cluster(dnsOnlyName: true);
            await cluster.StartMasterAsync(tls: true);
            await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
            using var client = await cluster.LoginAsync();

            var taskId = await Cluster.LaunchTaskAsync(client, command: [binary]);
            var (task, logs) = await Cluster.WaitForTaskAsync(client, taskId);

            Assert.True(Cluster.ExitCode(task) == 0, $"the native task failed: {task.ToJsonString()}\n{logs.ToJsonString()}");
            var lines = logs.Select(l => (string?)l!["log"]).ToList();
            Assert.Contains(lines, l => l == "training complete");
            Assert.Contains(logs, l => (string?)l!["source"] == "task" && ((string?)l["log"])!.StartsWith("training step 3/3", StringComparison.Ordinal));
            Assert.Contains(lines, l => l!.Contains("Tls.MasterCertificateName = determined-master-ci", StringComparison.Ordinal));
            cluster.AssertNoSecretsInOutput();
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
