using System.Net;
using System.Net.Sockets;

namespace Determined.Security;

/// <summary>
/// Host names as the server-certificate profile reads them: LDH labels (RFC 1123), one optional leading <c>*.</c> in a
/// certificate name, IP literals compared as addresses, and wildcards that never cover a public suffix.
/// </summary>
internal static class HostNames
{
    private const int MaxNameLength = 253;

    /// <summary>True for <c>label(.label)*</c> with letters, digits and inner hyphens, 1–63 characters per label, not all-numeric at the end.</summary>
    public static bool IsValidHostName(string name, bool allowWildcard)
    {
        var span = name.AsSpan();
        if (allowWildcard && span.StartsWith("*."))
        {
            span = span[2..];
        }

        if (span.Length is 0 or > MaxNameLength)
        {
            return false;
        }

        var lastLabelNumeric = false;
        foreach (var range in span.Split('.'))
        {
            var label = span[range];
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            lastLabelNumeric = true;
            foreach (var c in label)
            {
                if (char.IsAsciiDigit(c))
                {
                    continue;
                }

                lastLabelNumeric = false;
                if (!char.IsAsciiLetter(c) && c != '-')
                {
                    return false;
                }
            }
        }

        return !lastLabelNumeric;
    }

    /// <summary>Reads an IP literal: dotted-quad IPv4 (four decimal parts, no leading zeros) or IPv6 (brackets optional).</summary>
    public static bool TryParseIPAddress(string text, out byte[] address)
    {
        address = [];
        var span = text.AsSpan();
        if (span.Length > 2 && span[0] == '[' && span[^1] == ']')
        {
            span = span[1..^1];
            if (!span.Contains(':'))
            {
                return false;
            }
        }

        if (span.Contains(':'))
        {
            // Only a bare IPv6 literal: IPAddress.TryParse also takes "[::1]:8443" (a port) and zone ids.
            if (span.IndexOfAny('[', ']', '%') >= 0 || span.IndexOfAny(' ', '/') >= 0 || !IPAddress.TryParse(span, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }

            address = v6.GetAddressBytes();
            return true;
        }

        var parts = 0;
        var bytes = new byte[4];
        foreach (var range in span.Split('.'))
        {
            var part = span[range];
            if (parts == 4 || part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') || !int.TryParse(part, System.Globalization.NumberStyles.None, null, out var value) || value > 255)
            {
                return false;
            }

            bytes[parts++] = (byte)value;
        }

        if (parts != 4)
        {
            return false;
        }

        address = bytes;
        return true;
    }

    /// <summary>The expected name as a certificate is checked against it: an IP address, or a lower-case DNS name without a trailing dot.</summary>
    public static (string? Dns, byte[]? Address) Normalize(string expected)
    {
        // A URL's link-local zone ("[fe80::1%eth0]") names a local interface, not part of the address a certificate holds.
        var zone = expected.IndexOf('%', StringComparison.Ordinal);
        if (zone > 0 && expected.StartsWith('[') && expected.EndsWith(']'))
        {
            expected = expected[..zone] + "]";
        }

        if (TryParseIPAddress(expected, out var address))
        {
            return (null, address);
        }

        var dns = expected.EndsWith('.') ? expected[..^1] : expected;
        return (dns.ToLowerInvariant(), null);
    }

    /// <summary>True when a DNS name from a certificate (validated) covers the expected DNS name (lower case).</summary>
    public static bool Matches(string certificateName, string expected, out bool publicSuffixWildcard)
    {
        publicSuffixWildcard = false;
        if (!certificateName.StartsWith("*.", StringComparison.Ordinal))
        {
            return string.Equals(certificateName, expected, StringComparison.OrdinalIgnoreCase);
        }

        var baseName = certificateName.AsSpan(2);
        var dot = expected.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || !expected.AsSpan(dot + 1).Equals(baseName, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (PublicSuffixList.IsPublicSuffix(baseName.ToString().ToLowerInvariant()))
        {
            publicSuffixWildcard = true;
            return false;
        }

        return true;
    }

    /// <summary>True when <paramref name="name"/> is <paramref name="domain"/> or one of its subdomains (RFC 5280 DNS constraint).</summary>
    public static bool IsWithin(ReadOnlySpan<char> name, string domain)
    {
        if (domain.Length == 0)
        {
            return true;
        }

        if (name.Equals(domain, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return name.Length > domain.Length + 1 && name[^(domain.Length + 1)] == '.' && name[^domain.Length..].Equals(domain, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its 4 IPv4 bytes; any other address as it is.</summary>
    public static byte[] Unmap(byte[] address) =>
        address.Length == 16 && address.AsSpan(0, 10).IndexOfAnyExcept((byte)0) < 0 && address[10] == 0xFF && address[11] == 0xFF ? address[12..] : address;

    /// <summary>The text of an IP address for messages.</summary>
    public static string Format(byte[] address) => new IPAddress(address).ToString();
}
