using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Determined.Security;

/// <summary>
/// Master URLs in Determined's canonical form (<c>scheme://host:port[/path]</c>), the form used as the key of
/// <c>certs.json</c> and <c>auth.json</c>: no scheme means <c>http://</c> on port 8080; <c>http://</c> defaults to
/// port 80 and <c>https://</c> to 443; a trailing <c>/</c> is dropped; credentials, queries and fragments are refused.
/// </summary>
public static class MasterAddress
{
    /// <summary>The address used when nothing else is configured (<c>DET_MASTER</c>, <c>DET_MASTER_ADDR</c>).</summary>
    public const string DefaultAddress = "localhost:8080";

    private static readonly System.Buffers.SearchValues<char> s_badHostCharacters = System.Buffers.SearchValues.Create(" \t%\\<>\"{}|^`");

    /// <summary>Parses a master address typed by a user or read from the environment.</summary>
    /// <param name="address">For example <c>master:8443</c>, <c>https://master.example.com</c>, <c>[::1]:8080</c>.</param>
    /// <returns>The canonical URL.</returns>
    /// <exception cref="FormatException">The address is not valid; the message says why and shows a valid form.</exception>
    public static Uri Parse(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return TryParse(address, out var uri, out var error) ? uri : throw new FormatException(error);
    }

    /// <summary>Tries to parse a master address.</summary>
    /// <param name="address">The address.</param>
    /// <param name="uri">The canonical URL when valid.</param>
    /// <param name="error">Why the address is invalid, otherwise <see langword="null"/>.</param>
    /// <returns><see langword="true"/> when the address is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? address, [NotNullWhen(true)] out Uri? uri, [NotNullWhen(false)] out string? error)
    {
        uri = null;
        if (!TryCanonicalize(address, out var canonical, out error))
        {
            return false;
        }

        // TryCanonicalize has already checked that this exact text is an absolute URL.
        uri = new Uri(canonical, UriKind.Absolute);
        return true;
    }

    /// <summary>Returns the canonical text of a master address: the key Determined's <c>certs.json</c> and <c>auth.json</c> use.</summary>
    /// <param name="address">The address in any accepted form.</param>
    /// <returns>For example <c>https://master:8443</c> (no trailing slash).</returns>
    /// <exception cref="FormatException">The address is not valid.</exception>
    public static string Canonicalize(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return TryCanonicalize(address, out var canonical, out var error) ? canonical : throw new FormatException(error);
    }

    /// <summary>Returns the canonical text of a master URL.</summary>
    /// <param name="masterUri">An absolute <c>http</c> or <c>https</c> URL.</param>
    /// <returns>The canonical text.</returns>
    public static string Canonicalize(Uri masterUri)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        return Canonicalize(masterUri.OriginalString);
    }

    private static bool TryCanonicalize(string? address, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? error)
    {
        canonical = null;
        var text = address?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "The master address is empty. Fix: set it, e.g. -m https://master.example.com:8443 or DET_MASTER=https://master.example.com:8443.";
            return false;
        }

        string scheme;
        int defaultPort;
        var rest = text;
        var separator = text.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0)
        {
            scheme = "http";
            defaultPort = 8080;
        }
        else
        {
            scheme = text[..separator].ToLowerInvariant();
            rest = text[(separator + 3)..];
            if (scheme is not ("http" or "https"))
            {
                error = Invalid(text, $"the scheme '{scheme}' is not http or https");
                return false;
            }

            defaultPort = scheme == "https" ? 443 : 80;
        }

        if (rest.IndexOfAny(['?', '#']) is var q and >= 0)
        {
            error = Invalid(text, rest[q] == '?' ? "a master URL cannot have a query" : "a master URL cannot have a fragment");
            return false;
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? string.Empty : rest[slash..].TrimEnd('/');
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            if (at > 0)
            {
                error = Invalid(text, "credentials are not allowed in the master URL (log in with 'det user login' or DET_USER/DET_PASS instead)");
                return false;
            }

            authority = authority[1..];
        }

        string host;
        string? portText = null;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || !System.Net.IPAddress.TryParse(authority[1..close], out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                error = Invalid(text, "the IPv6 address in brackets is not valid");
                return false;
            }

            host = authority[..(close + 1)];
            var after = authority[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':')
                {
                    error = Invalid(text, "unexpected text after the IPv6 address");
                    return false;
                }

                portText = after[1..];
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            if (colon >= 0 && authority.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = Invalid(text, "an IPv6 address must be written in brackets, e.g. [::1]:8080");
                return false;
            }

            host = colon < 0 ? authority : authority[..colon];
            portText = colon < 0 ? null : authority[(colon + 1)..];
        }

        if (host.Length == 0)
        {
            error = Invalid(text, "the host is empty");
            return false;
        }

        if (host.AsSpan().IndexOfAny(s_badHostCharacters) >= 0 || host.Any(c => char.IsSurrogate(c) || char.IsControl(c)) || path.Any(c => char.IsSurrogate(c) || char.IsControl(c)))
        {
            // A lone surrogate would be a store key that no JSON reader of .NET can read back (Python writes it as \ud800).
            error = Invalid(text, "the host or path contains characters that are not allowed");
            return false;
        }

        var port = defaultPort;
        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            error = Invalid(text, $"the port '{portText}' is not a number from 1 to 65535");
            return false;
        }

        // Python's urlparse().hostname, which upstream's canonicalize_master_url uses, is lower case: store keys written by
        // upstream's CLI for https://LOCALHOST:8443 are https://localhost:8443.
        canonical = string.Create(CultureInfo.InvariantCulture, $"{scheme}://{host.ToLowerInvariant()}:{port}{path}");
        if (!Uri.TryCreate(canonical, UriKind.Absolute, out _))
        {
            canonical = null;
            error = Invalid(text, "it is not a valid URL");
            return false;
        }

        error = null;
        return true;
    }

    private static string Invalid(string address, string reason) =>
        $"The master address '{SafeText.RedactAddress(address)}' is not valid: {reason}. Fix: use [http[s]://]host[:port][/path], e.g. https://master.example.com:8443 (DET_MASTER, -m/--master).";
}
