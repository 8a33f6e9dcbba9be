using System.Reflection;
using System.Text.RegularExpressions;
using Determined.Security;

namespace Determined.Security.Tests.Conventions;

/// <summary>
/// One owner per rule (docs/ARCHITECTURE.md): a second place that works out a rule again fails here, naming the file.
/// Chain policies have their own guard: <c>new X509ChainPolicy()</c> is a banned symbol outside <c>ChainPolicies</c>.
/// </summary>
public sealed class OwnershipTests
{
    private static readonly string s_root = Determined.Testing.ChildProcess.RepoRoot();

    [Fact]
    public void TlsOptionsClone_CarriesEveryProperty()
    {
        var options = new TlsOptions();
        var properties = typeof(TlsOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();
        Assert.True(properties.Count >= 17, $"only {properties.Count} settable properties found");
        foreach (var p in properties)
        {
            p.SetValue(options, NonDefault(p.PropertyType, p.GetValue(options)));
        }

        var copy = options.Clone();
        Assert.NotSame(options, copy);
        foreach (var p in properties)
        {
            Assert.True(Equals(p.GetValue(options), p.GetValue(copy)), $"TlsOptions.Clone() does not copy {p.Name}");
        }
    }

    [Fact]
    public void SafeText_IsTheOnlyDefinitionOfPrintingOrRedacting()
    {
        var definition = new Regex(@"\bstatic\s+string\??\s+(Printable|Redact\w*|LogText|Sanitize\w*)\s*\(", RegexOptions.CultureInvariant);
        var offenders = Sources("src", "samples")
            .Where(f => !f.EndsWith("SafeText.cs", StringComparison.Ordinal) && definition.IsMatch(File.ReadAllText(f)))
            .ToList();
        Assert.True(offenders.Count == 0, "printing or redaction defined outside SafeText: " + string.Join(", ", offenders));
    }

    [Fact]
    public void ExpectedName_IsWorkedOutOnlyByTheTrustDecision()
    {
        // The name a certificate must carry: the override when set, else the URL host. Only TrustDecision.ExpectedNameFor says so.
        var again = new Regex(@"(MasterCertificateName|certificateName|nameOverride)\s*\?\?\s*\w+\.IdnHost|IsNullOrWhiteSpace\((certificateName|nameOverride)\)\s*\?\s*\w+\.IdnHost", RegexOptions.CultureInvariant);
        var offenders = Sources("src")
            .Where(f => !f.EndsWith("TrustDecision.cs", StringComparison.Ordinal) && again.IsMatch(File.ReadAllText(f)))
            .ToList();
        Assert.True(offenders.Count == 0, "the expected name worked out outside TrustDecision: " + string.Join(", ", offenders));
        Assert.Matches(again, File.ReadAllText(Path.Combine(s_root, "src", "Determined.Security", "Trust", "TrustDecision.cs")));
    }

    [Fact]
    public void ChainPolicies_AreBannedElsewhere()
    {
        var banned = File.ReadAllLines(Path.Combine(s_root, "eng", "BannedSymbols.txt"));
        Assert.Contains(banned, l => l.StartsWith("M:System.Security.Cryptography.X509Certificates.X509ChainPolicy.#ctor;", StringComparison.Ordinal));
        var constructs = new Regex(@"new\s+X509ChainPolicy\s*[({]", RegexOptions.CultureInvariant);
        var offenders = Sources("src").Where(f => !f.EndsWith("ChainPolicies.cs", StringComparison.Ordinal) && constructs.IsMatch(File.ReadAllText(f))).ToList();
        Assert.True(offenders.Count == 0, "chain policies made outside ChainPolicies: " + string.Join(", ", offenders));
    }

    [Fact]
    public void NoComment_NamesAFileUsersDoNotHave()
    {
        var offenders = Sources("src", "samples").Where(f => File.ReadAllText(f).Contains("REFERENCE.md", StringComparison.Ordinal)).ToList();
        Assert.True(offenders.Count == 0, "REFERENCE.md (not in this repository) named in: " + string.Join(", ", offenders));
    }

    [Fact]
    public void LargeClasses_AreListedWithAReason()
    {
        // docs/ARCHITECTURE.md lists every file of src/ over 300 lines with the reason it stays one class.
        var listed = Regex.Matches(File.ReadAllText(Path.Combine(s_root, "docs", "ARCHITECTURE.md")), @"^\| `(?<file>[^`]+\.cs)` \|", RegexOptions.Multiline)
            .Select(m => m.Groups["file"].Value.Replace("Sdk/", string.Empty, StringComparison.Ordinal).Replace('/', Path.DirectorySeparatorChar))
            .ToList();
        Assert.NotEmpty(listed);
        var unlisted = Sources("src")
            .Where(f => File.ReadLines(f).Count() > 300 && !listed.Any(l => f.EndsWith(Path.DirectorySeparatorChar + l, StringComparison.Ordinal)))
            .ToList();
        Assert.True(unlisted.Count == 0, "over 300 lines and not listed in docs/ARCHITECTURE.md with a reason: " + string.Join(", ", unlisted));
    }

    private static object? NonDefault(Type type, object? current) => type switch
    {
        _ when type == typeof(string) => "x-" + Guid.NewGuid().ToString("N"),
        _ when type == typeof(bool) => !(bool)current!,
        _ when type == typeof(TimeSpan) => (TimeSpan)current! + TimeSpan.FromSeconds(7),
        _ when type.IsEnum => Enum.GetValues(type).Cast<object>().First(v => !Equals(v, current)),
        _ => throw new InvalidOperationException($"TlsOptions has a property of type {type}: teach this test a non-default value for it"),
    };

    private static IEnumerable<string> Sources(params string[] roots) =>
        roots.SelectMany(r => Directory.EnumerateFiles(Path.Combine(s_root, r), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
}
