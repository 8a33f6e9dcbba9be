using System.Reflection;

namespace Determined.Security;

/// <summary>
/// The Public Suffix List (ICANN and PRIVATE sections) embedded at build time from PublicSuffixList.txt (regenerate it
/// with <c>eng/update-public-suffix-list.sh</c>). Loaded on first use only: a wildcard certificate name is the one thing
/// that needs it. A name is a public suffix when a rule says so, or when it is a single label (the list's implicit
/// <c>*</c> rule), so <c>*.com</c>, <c>*.co.uk</c>, <c>*.s3.amazonaws.com</c> and <c>*.internal</c> never match.
/// </summary>
internal static class PublicSuffixList
{
    private static readonly Lazy<Rules> s_rules = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public static bool IsPublicSuffix(string domain)
    {
        if (!domain.Contains('.', StringComparison.Ordinal))
        {
            return true;
        }

        var rules = s_rules.Value;
        if (rules.Exceptions.Contains(domain))
        {
            return false;
        }

        if (rules.Exact.Contains(domain))
        {
            return true;
        }

        var dot = domain.IndexOf('.', StringComparison.Ordinal);
        return rules.Wildcards.Contains(domain[(dot + 1)..]);
    }

    private static Rules Load()
    {
        var rules = new Rules();
        using var stream = typeof(PublicSuffixList).Assembly.GetManifestResourceStream("Determined.Security.PublicSuffixList.txt")
            ?? throw new InvalidOperationException("The embedded Public Suffix List is missing from Determined.Security.");
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal))
            {
                continue;
            }

            if (line[0] == '!')
            {
                rules.Exceptions.Add(line[1..]);
            }
            else if (line.StartsWith("*.", StringComparison.Ordinal))
            {
                rules.Wildcards.Add(line[2..]);
            }
            else
            {
                rules.Exact.Add(line);
            }
        }

        return rules;
    }

    private sealed class Rules
    {
        public HashSet<string> Exact { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Wildcards { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Exceptions { get; } = new(StringComparer.Ordinal);
    }
}
