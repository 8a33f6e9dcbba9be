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
        var test = readme.IndexOf("dotnet test Determined.sln -c Release", StringComparison.Ordinal);

        Assert.True(demo > 0 && test > demo && test < readme.IndexOf("## Use it", StringComparison.Ordinal));
    }
}
