using System.Text;
using System.Text.RegularExpressions;

namespace Determined.Testing;

/// <summary>
/// Approval files: text a test produces (every error message of a rule set, say) compared line by line with a file
/// committed under the test project's <c>Approved/</c> folder. A difference fails the test and writes the produced text
/// next to the approved file as <c>*.received.txt</c>, so a reviewer sees the whole change in a diff. To accept a
/// deliberate change run the test once with <c>DETERMINED_APPROVE=1</c> (refused when <c>CI</c> is set).
/// </summary>
public static partial class ApprovedText
{
    /// <summary>Replaces what changes from run to run (fingerprints, key pins, serial numbers) with fixed placeholders.</summary>
    public static string Normalize(string text)
    {
        text = Sha256Colons().Replace(text, "<sha256>");
        text = SpkiPin().Replace(text, "sha256/<spki>");
        text = LongHex().Replace(text, "<hex>");
        return text;
    }

    /// <summary>Fails unless <paramref name="actual"/> equals the approved file <paramref name="name"/> of <paramref name="project"/>.</summary>
    /// <param name="project">The test project folder under <c>tests/</c>.</param>
    /// <param name="name">The file name under <c>Approved/</c>.</param>
    /// <param name="actual">The text produced by this run (already normalized).</param>
    public static void Verify(string project, string name, string actual)
    {
        actual = actual.ReplaceLineEndings("\n");
        var directory = Path.Combine(ChildProcess.RepoRoot(), "tests", project, "Approved");
        var approvedPath = Path.Combine(directory, name);
        var receivedPath = Path.ChangeExtension(approvedPath, ".received.txt");
        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).ReplaceLineEndings("\n") : null;
        if (string.Equals(approved, actual, StringComparison.Ordinal))
        {
            File.Delete(receivedPath);
            return;
        }

        if (Environment.GetEnvironmentVariable("DETERMINED_APPROVE") == "1")
        {
            Assert.True(string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")), "DETERMINED_APPROVE is refused in CI: approve on a workstation and commit the file");
            Directory.CreateDirectory(directory);
            File.WriteAllText(approvedPath, actual, new UTF8Encoding(false));
            File.Delete(receivedPath);
            return;
        }

        Directory.CreateDirectory(directory);
        File.WriteAllText(receivedPath, actual, new UTF8Encoding(false));
        Assert.Fail(approved is null
            ? $"{approvedPath} does not exist; the produced text is in {receivedPath}. If it is right, run the test with DETERMINED_APPROVE=1 and commit the file."
            : $"{name} differs from what this run produced ({FirstDifference(approved, actual)}). Compare: diff {approvedPath} {receivedPath}; if the change is deliberate, run the test with DETERMINED_APPROVE=1 and commit the file.");
    }

    private static string FirstDifference(string approved, string actual)
    {
        var a = approved.Split('\n');
        var b = actual.Split('\n');
        for (var i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            var left = i < a.Length ? a[i] : "<end of file>";
            var right = i < b.Length ? b[i] : "<end of file>";
            if (!string.Equals(left, right, StringComparison.Ordinal))
            {
                return $"line {i + 1}:\n  approved: {left}\n  produced: {right}";
            }
        }

        return "line endings only";
    }

    [GeneratedRegex("(?<![0-9A-Fa-f:])[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}(?![0-9A-Fa-f:])")]
    private static partial Regex Sha256Colons();

    [GeneratedRegex("sha256/[A-Za-z0-9+/]{43}=")]
    private static partial Regex SpkiPin();

    [GeneratedRegex("(?<![0-9A-Za-z])[0-9A-Fa-f]{16,}(?![0-9A-Za-z])")]
    private static partial Regex LongHex();
}
