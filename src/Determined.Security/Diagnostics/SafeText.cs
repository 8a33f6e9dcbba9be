using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Determined;

/// <summary>
/// The one owner of making hostile text safe to print or log (a certificate's subject, a master's error body, a setting, an
/// agent's id) and of removing the secrets text can carry (a proxy password in a URL, a token in a query). Every message,
/// log line and terminal line of both packages goes through it; the samples link this file. Each form has one rule:
/// <list type="bullet">
/// <item><see cref="Ascii"/>: certificate and file values inside exception messages (only printable ASCII, at most 200).</item>
/// <item><see cref="Spaced"/>: a master's text in an exception (same length; controls become spaces).</item>
/// <item><see cref="Terminal"/>: a line on a terminal (controls shown escaped, any length).</item>
/// <item><see cref="LogField"/>: what an unauthenticated peer sends, in a log field (escaped, at most 128).</item>
/// <item><see cref="Redact"/> and <see cref="RedactAddress"/>: secrets out of platform messages and of master addresses.</item>
/// </list>
/// </summary>
internal static partial class SafeText
{
    /// <summary>
    /// A value from a certificate, file or the network inside a message: everything but printable ASCII escaped as
    /// <c>\uXXXX</c> (no terminal escapes, no forged log lines, no look-alike characters) and at most 200 characters.
    /// </summary>
    public static string Ascii(string value) => Escape(value, 200, static c => c is < ' ' or > '~');

    /// <summary>
    /// Text from the master or a setting, safe for logs and terminals: control characters (ANSI escapes, CR/LF) and format
    /// characters (bidi overrides such as U+202E and U+2066, zero-width U+200B) become spaces, so what is printed reads as
    /// what was sent; a lone surrogate becomes U+FFFD. The length is kept.
    /// </summary>
    public static string Spaced(string text) =>
        string.Create(text.Length, text, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                span[i] = IsControlOrFormat(c) ? ' '
                    : char.IsHighSurrogate(c) && (i + 1 >= source.Length || !char.IsLowSurrogate(source[i + 1])) ? '\uFFFD'
                    : char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(source[i - 1])) ? '\uFFFD'
                    : c;
            }
        });

    /// <summary>Text for a terminal: control characters (ANSI escapes, CR, BEL) and format characters (bidi overrides) shown escaped as <c>\uXXXX</c>.</summary>
    public static string Terminal(string text) => Escape(text, int.MaxValue, IsControlOrFormat);

    /// <summary>
    /// What a peer sent before it was authenticated, for a log field: control, format and surrogate characters escaped as
    /// <c>\uXXXX</c> and at most 128 characters, so a peer can neither forge log lines nor fill the log.
    /// </summary>
    public static string LogField(string? text) =>
        string.IsNullOrEmpty(text) ? string.Empty : Escape(text, 128, static c => IsControlOrFormat(c) || char.IsSurrogate(c));

    /// <summary>
    /// Removes secrets that text from the platform can carry before it reaches a message or a log: the user information of
    /// any URL (<c>http://user:password@proxy</c>, as .NET's proxy errors print it) and token-like query parameters.
    /// </summary>
    public static string Redact(string text) =>
        text.Contains('@', StringComparison.Ordinal) || text.Contains('=', StringComparison.Ordinal)
            ? QueryToken().Replace(UserInfo().Replace(text, "${scheme}***@"), "${name}***")
            : text;

    /// <summary>
    /// A master address as an error message may repeat it: credentials (<c>user:password@</c>) hidden, and the query and
    /// fragment (<c>?access_token=…</c>, <c>#…</c>: never part of a master address, and where tokens travel) replaced.
    /// </summary>
    public static string RedactAddress(string address)
    {
        var query = address.IndexOfAny(['?', '#']);
        var tail = query < 0 ? string.Empty : address[query] + "***";
        address = query < 0 ? address : address[..query];
        var start = address.IndexOf("://", StringComparison.Ordinal);
        start = start < 0 ? 0 : start + 3;
        var end = address.IndexOf('/', start);
        var authority = end < 0 ? address[start..] : address[start..end];
        var at = authority.LastIndexOf('@');
        return (at <= 0 ? address : address[..start] + "***" + address[(start + at)..]) + tail;
    }

    private static bool IsControlOrFormat(char c) => char.IsControl(c) || char.GetUnicodeCategory(c) == UnicodeCategory.Format;

    /// <summary>Escapes each character <paramref name="mustEscape"/> selects; once the output reaches <paramref name="maxLength"/> it ends with '…'.</summary>
    private static string Escape(string text, int maxLength, Func<char, bool> mustEscape)
    {
        var builder = new StringBuilder(Math.Min(text.Length, maxLength));
        foreach (var c in text)
        {
            if (builder.Length >= maxLength)
            {
                builder.Append('…');
                break;
            }

            if (mustEscape(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    [GeneratedRegex(@"(?<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s'""]+@", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex UserInfo();

    [GeneratedRegex(@"(?<name>[?&;](?:[A-Za-z_\-]*(?:token|password|passwd|pass|secret|key|sig|signature|auth)[A-Za-z_\-]*)=)[^&\s'""]*", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase, matchTimeoutMilliseconds: 1000)]
    private static partial Regex QueryToken();
}
