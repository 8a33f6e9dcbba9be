using Determined.Testing;

namespace Determined.EndToEnd.Tests;

public sealed class DemoTests
{
    [Fact]
    public async Task Demo_RunsToCompletion_EveryHopOk_AndCleansUp()
    {
        var dll = ChildProcess.ProjectDll("samples/Determined.Samples.Demo", "Determined.Samples.Demo");
        await using var demo = RunningProcess.StartDotnet("demo", dll, []);

        var exit = await demo.WaitForExitAsync(TimeSpan.FromMinutes(3));

        Assert.True(exit == 0, demo.Output);
        var hops = demo.Lines.Where(l => l.TrimStart().StartsWith('[')).ToList();
        Assert.True(hops.Count >= 7, demo.Output);
        Assert.All(hops, h => Assert.StartsWith("[OK]", h.Trim(), StringComparison.Ordinal));
        foreach (var hop in new[] { "agent → master", "CLI → master", "task → master", "master → agent" })
        {
            Assert.Contains(hops, h => h.Contains(hop, StringComparison.Ordinal));
        }

        var workDir = demo.Lines.First(l => l.StartsWith("Working directory: ", StringComparison.Ordinal))["Working directory: ".Length..];
        Assert.False(Directory.Exists(workDir), "the demo must remove its files");
        Assert.DoesNotContain("PRIVATE KEY", demo.Output, StringComparison.Ordinal);
    }
}
