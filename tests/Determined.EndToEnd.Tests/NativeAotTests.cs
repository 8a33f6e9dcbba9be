using System.Runtime.InteropServices;
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
            var publish = await ChildProcess.RunAsync(
                "dotnet",
                [
                    "publish", Path.Combine(ChildProcess.RepoRoot(), "samples", "Determined.Samples.Task", "Determined.Samples.Task.csproj"),
                    "-c", "Release", "-r", RuntimeInformation.RuntimeIdentifier, "-p:PublishAot=true",
                    $"-p:CppCompilerAndLinker={clang}", "--artifacts-path", Path.Combine(work, "build"), "-o", Path.Combine(work, "bin"),
                ],
                timeout: TimeSpan.FromMinutes(4)); // inside dotnet test's 5-minute hang limit
            Assert.True(publish.ExitCode == 0, "NativeAOT publish failed:\n" + publish.Output);
            var warnings = publish.Output.Split('\n').Where(l => l.Contains(": warning ", StringComparison.Ordinal)).Distinct().ToList();
            Assert.True(warnings.Count == 0, "NativeAOT publish warnings:\n" + string.Join('\n', warnings));

            var binary = Path.Combine(work, "bin", "Determined.Samples.Task");
            Assert.True(File.Exists(binary), binary + " was not produced");
            File.SetUnixFileMode(work, (UnixFileMode)0b111_101_101);

            await using var cluster = new Cluster(dnsOnlyName: true);
            await cluster.StartMasterAsync(tls: true);
            await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
            using var client = await cluster.LoginAsync();

            var taskId = await Cluster.LaunchTaskAsync(client, command: [binary]);
            var (task, logs) = await Cluster.WaitForTaskAsync(client, taskId);

            Assert.True((int?)task["exitCode"] == 0, $"the native task failed: {task.ToJsonString()}\n{logs.ToJsonString()}");
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
