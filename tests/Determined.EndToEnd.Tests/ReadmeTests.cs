using Determined.Testing;

namespace Determined.EndToEnd.Tests;

public sealed class ReadmeTests
{
    [Fact]
    public void Readme_UsageExample_IsTheCompiledTaskSampleCode()
    {
        var root = ChildProcess.RepoRoot();
        var source = File.ReadAllText(Path.Combine(root, "samples/Determined.Samples.Task/Program.cs"));
        var start = source.IndexOf("#region AddDeterminedClient", StringComparison.Ordinal);
        var end = source.IndexOf("#endregion", StringComparison.Ordinal);
        var region = source[source.IndexOf('\n', start)..end].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));

        Assert.True(region.Count >= 5);
        Assert.Contains(string.Join("\n", region), string.Join("\n", readme.Split('\n').Select(l => l.Trim())), StringComparison.Ordinal);
    }

    [Fact]
    public void Readme_GivesTheDemoAndTestCommandsFirst()
    {
        var readme = File.ReadAllText(Path.Combine(ChildProcess.RepoRoot(), "README.md"));
        var demo = readme.IndexOf("dotnet run --project samples/Determined.Samples.Demo", StringComparison.Ordinal);
        var test = readme.IndexOf("bash eng/test.sh", StringComparison.Ordinal);

        Assert.True(demo > 0 && test > demo && test < readme.IndexOf("## Use it", StringComparison.Ordinal));
        Assert.Contains("bash eng/test.sh", File.ReadAllText(Path.Combine(ChildProcess.RepoRoot(), ".ci", "run")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TestCommand_WithoutItsTools_StopsBeforeAnyTestAndNamesTheInstallCommand()
    {
        // A PATH with dotnet and the shell's basics but none of the TLS tools: eng/test.sh must stop before 'dotnet test'
        // (run as a user who cannot install, so it cannot fall back to apt-get).
        var bin = Directory.CreateTempSubdirectory("det-path-").FullName;
        File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101); // the unprivileged user must reach the links
        try
        {
            foreach (var tool in new[] { "bash", "id", "grep", "dirname", "env" })
            {
                var found = new[] { "/usr/bin", "/bin", "/usr/local/bin" }.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
                Assert.NotNull(found);
                File.CreateSymbolicLink(Path.Combine(bin, tool), found);
            }

            // The scripts are copied next to the links: the unprivileged user may not be able to read the checkout itself
            // (a clone under a private temporary directory); they stop before anything else of the repository is needed.
            var eng = Directory.CreateDirectory(Path.Combine(bin, "eng")).FullName;
            foreach (var file in new[] { "test.sh", "prerequisites.sh" })
            {
                File.Copy(Path.Combine(ChildProcess.RepoRoot(), "eng", file), Path.Combine(eng, file));
                File.SetUnixFileMode(Path.Combine(eng, file), (UnixFileMode)0b111_101_101);
            }

            File.SetUnixFileMode(eng, (UnixFileMode)0b111_101_101);
            var script = Path.Combine(eng, "test.sh");
            var run = await ChildProcess.RunAsync("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash", script, "--list-tests"], new Dictionary<string, string?> { ["PATH"] = bin, ["HOME"] = bin }, timeout: TimeSpan.FromMinutes(2));

            Assert.Equal(2, run.ExitCode);
            Assert.Contains("apt-get install -y", run.Stderr, StringComparison.Ordinal);
            foreach (var package in new[] { "openssl", "curl", "default-jre-headless", "unzip" })
            {
                Assert.Contains(package, run.Stderr, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }
}
