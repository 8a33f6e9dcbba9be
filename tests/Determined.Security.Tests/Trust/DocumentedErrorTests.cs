using System.Net.Security;
using System.Text.RegularExpressions;
using Determined.Testing;

namespace Determined.Security.Tests.Trust;

public sealed partial class DocumentedErrorTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void EveryErrorCode_HasATroubleshootingSection()
    {
        var doc = File.ReadAllText(Path.Combine(ChildProcess.RepoRoot(), "TROUBLESHOOTING.md"));

        foreach (var error in Enum.GetValues<MasterConnectionError>())
        {
            Assert.True(doc.Contains($"`{error}`", StringComparison.Ordinal), $"TROUBLESHOOTING.md has no section for {error}");
        }
    }

    [Fact]
    public void EveryErrorCode_IsProducedByATest()
    {
        // Each code must be asserted by some test (by name in an assertion), so each documented message is produced.
        var sources = string.Join("\n", Directory.EnumerateFiles(Path.Combine(ChildProcess.RepoRoot(), "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(nameof(DocumentedErrorTests) + ".cs", StringComparison.Ordinal))
            .Select(File.ReadAllText));
        var missing = Enum.GetValues<MasterConnectionError>()
            .Where(e => !Regex.IsMatch(sources, $@"MasterConnectionError\.{e}\b"))
            .ToList();

        Assert.True(missing.Count == 0, "No test produces: " + string.Join(", ", missing));
    }
}
