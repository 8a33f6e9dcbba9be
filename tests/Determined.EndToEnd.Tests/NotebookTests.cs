using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// The notebook leg (issue #28): samples/Notebooks/determined.ipynb executed headless by Jupyter's nbconvert with the .NET
/// Interactive kernel (the local tool of .config/dotnet-tools.json), launched through the sample master and agent as a task,
/// so its only configuration is what the agent injects (DET_MASTER, DET_MASTER_CERT_FILE, DET_MASTER_CERT_NAME, tokens,
/// ids). Determined.Sdk comes from the two packages packed from this build into a temporary feed.
/// Slow (a cold kernel plus a NuGet restore): eng/test.sh leaves it out, .ci/run runs it as its own step.
/// </summary>
[Trait("Category", "Notebook")]
public sealed class NotebookTests(ITestOutputHelper output)
{
    private const string CertificateName = "determined-master-ci";

    [Fact]
    public async Task CSharpNotebook_RunAsATask_ConnectsWithTheInjectedEnvironmentOnly_PostsALogLine_AndShowsTheConnection()
    {
        var repo = ChildProcess.RepoRoot();
        var notebookDirectory = Path.Combine(repo, "samples", "Notebooks");
        await using var cluster = new Cluster(dnsOnlyName: true);
        var work = cluster.Directory;
        var watch = System.Diagnostics.Stopwatch.StartNew();

        // Determined.Security and Determined.Sdk packed from this build, with a version of this run only: the NuGet cache
        // (~/.nuget/packages) keeps an extracted version forever, so a reused 1.0.0 would be an earlier build's.
        var version = "1.0.0." + ((long)(DateTime.UtcNow - new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var feed = Path.Combine(work, "feed");
        try
        {
            foreach (var id in new[] { "Determined.Security", "Determined.Sdk" })
            {
                var pack = await ChildProcess.RunAsync(
                    "dotnet",
                    ["pack", Path.Combine(repo, "src", id, id + ".csproj"), "-c", "Release", "--no-build", "-p:DeterminedReadyToRun=false", "-p:PackageVersion=" + version, "-o", feed, "-nologo"],
                    timeout: TimeSpan.FromMinutes(3),
                    workingDirectory: repo);
                Assert.True(pack.ExitCode == 0, $"dotnet pack {id} failed (build the solution in Release first):\n{pack.Output}");
            }

            // The .NET kernel's Jupyter spec in a folder of this test (JUPYTER_PATH), started as the pinned local tool: the kernel
            // runs in the notebook's folder, inside this repository, where 'dotnet tool run' finds .config/dotnet-tools.json.
            var jupyter = Path.Combine(work, "jupyter");
            var kernels = Directory.CreateDirectory(Path.Combine(jupyter, "kernels")).FullName;
            var restore = await ChildProcess.RunAsync("dotnet", ["tool", "restore"], timeout: TimeSpan.FromMinutes(3), workingDirectory: repo);
            Assert.True(restore.ExitCode == 0, "dotnet tool restore failed:\n" + restore.Output);
            var install = await ChildProcess.RunAsync(
                "dotnet",
                ["tool", "run", "dotnet-interactive", "--", "jupyter", "install", "--path", kernels],
                new Dictionary<string, string?> { ["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1" },
                timeout: TimeSpan.FromMinutes(2),
                workingDirectory: repo);
            var kernelJson = Path.Combine(kernels, ".net-csharp", "kernel.json");
            Assert.True(install.ExitCode == 0 && File.Exists(kernelJson), "dotnet-interactive jupyter install failed:\n" + install.Output);
            var spec = JsonNode.Parse(await File.ReadAllTextAsync(kernelJson))!;
            var argv = spec["argv"]!.AsArray().Select(a => (string)a!).ToList();
            Assert.True(argv.Count > 2 && argv[0] == "dotnet" && argv[1] == "interactive", "unexpected kernel spec: " + spec.ToJsonString());
            spec["argv"] = new JsonArray([.. new[] { "dotnet", "tool", "run", "dotnet-interactive", "--" }.Concat(argv.Skip(2)).Select(a => (JsonNode?)JsonValue.Create(a))]);
            await File.WriteAllTextAsync(kernelJson, spec.ToJsonString());
            output.WriteLine($"packed {version} and installed the kernel spec in {watch.Elapsed.TotalSeconds:0.0} s");

            await cluster.StartMasterAsync(tls: true);
            await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
            using var client = await cluster.LoginAsync();

            // What a notebook task runs: nbconvert executes the notebook; the task's environment is the agent's injection, plus
            // where the packages and the kernel spec are (tool locations, no Determined setting).
            var executed = Path.Combine(work, "out");
            var script = string.Join(
                ' ',
                $"cd {Quote(notebookDirectory)} &&",
                $"exec env DETERMINED_SDK_FEED={Quote(feed)} JUPYTER_PATH={Quote(jupyter)} JUPYTER_RUNTIME_DIR={Quote(Path.Combine(jupyter, "runtime"))}",
                "DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT=1 DOTNET_INTERACTIVE_SKIP_FIRST_TIME_EXPERIENCE=1",
                "jupyter nbconvert --to notebook --execute determined.ipynb --ExecutePreprocessor.kernel_name=.net-csharp",
                $"--ExecutePreprocessor.timeout=300 --ExecutePreprocessor.startup_timeout=180 --output executed --output-dir {Quote(executed)}");
            var launched = watch.Elapsed;
            var taskId = await Cluster.LaunchTaskAsync(client, "agent-1", ["/bin/sh", "-c", script]);
            var (task, logs) = await Cluster.WaitForTaskAsync(client, taskId, TimeSpan.FromMinutes(6));
            output.WriteLine($"the notebook task ran {(watch.Elapsed - launched).TotalSeconds:0.0} s");
            var logText = string.Join('\n', logs.Select(l => (string?)l!["log"]));
            Assert.True(Cluster.ExitCode(task) == 0, $"the notebook task failed: {task.ToJsonString()}\n{logText}");

            // The master received the notebook's own log line, posted with the injected allocation token (the sample master
            // records such lines with the source "task"; what the agent captured from the process's output is "agent").
            Assert.True(
                logs.Any(l => (string?)l!["source"] == "task" && (string?)l["log"] == $"notebook {taskId}: hello from determined"),
                "the master has no log line from the notebook:\n" + logs.ToJsonString());

            // The executed notebook: no error output, the user and the master's info printed, the connection shown as HTML.
            var notebook = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(executed, "executed.ipynb")))!;
            var outputs = notebook["cells"]!.AsArray().SelectMany(c => c!["outputs"]?.AsArray() ?? []).Select(o => o!).ToList();
            Assert.DoesNotContain(outputs, o => (string?)o["output_type"] == "error");
            var text = string.Concat(outputs.Where(o => (string?)o["output_type"] == "stream").Select(o => Joined(o["text"])));
            Assert.Contains("user: determined", text, StringComparison.Ordinal);
            Assert.Matches(@"master: https://127\.0\.0\.1:\d+/ version \S+, cluster '[^']*'", text);
            Assert.Contains($"posted: notebook {taskId}: hello from determined", text, StringComparison.Ordinal);
            var installed = string.Concat(outputs.Select(o => Joined(o["data"]?["text/html"])));
            Assert.Contains($"Determined.Sdk, {version}", installed, StringComparison.Ordinal);

            var html = outputs.Where(o => (string?)o["output_type"] == "display_data").Select(o => Joined(o["data"]?["text/html"])).Single(h => h.Contains("TrustMode", StringComparison.Ordinal));
            output.WriteLine(html.Length > 4000 ? html[..4000] : html);
            Assert.Matches(Row("TrustMode", "PinnedAdded"), html);
            Assert.Matches(Row("VerifiedName", CertificateName), html);
            Assert.Matches(Row("PinnedFrom", Regex.Escape(Path.Combine(cluster.Directory, "agent-1-master.crt"))), html);
            Assert.Matches(Row("PresentedCertificate", "CN=" + CertificateName), html);
            Assert.Matches(Row("PresentedCertificateExpires", @"\d{4}-\d\d-\d\d \d\d:\d\d UTC"), html);
            // Where each setting came from: the injected variables, by name.
            Assert.Contains("DET_MASTER_CERT_FILE", html, StringComparison.Ordinal);
            Assert.Contains("DET_MASTER_CERT_NAME", html, StringComparison.Ordinal);
            Assert.Contains("Tls.MasterCertificateName", html, StringComparison.Ordinal);

            // Nothing secret in the notebook: tokens are shown as (set), never their value.
            var whole = notebook.ToJsonString();
            Assert.DoesNotContain("PRIVATE KEY", whole, StringComparison.Ordinal);
            foreach (var secret in cluster.Secrets)
            {
                Assert.DoesNotContain(secret, whole, StringComparison.Ordinal);
            }

            cluster.Capture("notebook", whole + "\n" + logText);
        }
        finally
        {
            RemoveFromNuGetCache(version);
        }
    }

    /// <summary>A row of .NET Interactive's default HTML table: the property's name cell, then its value cell (markup around it).</summary>
    private static string Row(string name, string valuePattern) => $@"<td>{name}</td><td>(?:<[^>]+>)*{valuePattern}";

    private static string Joined(JsonNode? node) => node switch
    {
        null => string.Empty,
        JsonArray lines => string.Concat(lines.Select(l => (string?)l)),
        _ => (string?)node ?? string.Empty,
    };

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The versions of this run are of no use later: they leave the NuGet cache (best effort).</summary>
    private static void RemoveFromNuGetCache(string version)
    {
#pragma warning disable RS0030 // The test reads where NuGet keeps its packages.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
#pragma warning restore RS0030
        foreach (var id in new[] { "determined.security", "determined.sdk" })
        {
            try
            {
                Directory.Delete(Path.Combine(cache, id, version), recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
