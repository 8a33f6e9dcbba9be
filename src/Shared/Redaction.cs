using System.Text.RegularExpressions;

namespace Determined;

/// <summary>
/// Removes secrets that text from the platform can carry before it reaches a message or a log: the user information of
/// any URL (<c>http://user:password@proxy</c>, as .NET's proxy errors print it) and token-like query parameters.
/// </summary>
internal static partial class Redaction
{
    public static string Redact(string text) =>
        text.Contains('@', StringComparison.Ordinal) || text.Contains('=', StringComparison.Ordinal)
            ? QueryToken().Replace(UserInfo().Replace(text, "${scheme}***@"), "${name}***")
            : text;

    [GeneratedRegex(@"(?<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s'""]+@", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex UserInfo();

    [GeneratedRegex(@"(?<name>[?&;](?:[A-Za-z_\-]*(?:token|password|passwd|pass|secret|key|sig|signature|auth)[A-Za-z_\-]*)=)[^&\s'""]*", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase, matchTimeoutMilliseconds: 1000)]
    private static partial Regex QueryToken();
}
