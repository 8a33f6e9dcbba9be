using System.Formats.Asn1;
using System.Numerics;

namespace Determined.Security;

/// <summary>A CA's name constraints: the DNS and IP subtrees the profile enforces (other forms are left to the platform).</summary>
internal sealed class NameConstraintSet
{
    private NameConstraintSet(bool critical) => Critical = critical;

    public bool Critical { get; }

    public List<string>? PermittedDns { get; private set; }

    public List<string> ExcludedDns { get; } = [];

    public List<(byte[] Address, byte[] Mask)>? PermittedIPs { get; private set; }

    public List<(byte[] Address, byte[] Mask)> ExcludedIPs { get; } = [];

    public int Count => (PermittedDns?.Count ?? 0) + ExcludedDns.Count + (PermittedIPs?.Count ?? 0) + ExcludedIPs.Count;

    public static NameConstraintSet Read(AsnReader constraints, bool critical)
    {
        var set = new NameConstraintSet(critical);
        var any = false;
        foreach (var (tagValue, permitted) in new[] { (0, true), (1, false) })
        {
            var tag = new Asn1Tag(TagClass.ContextSpecific, tagValue, isConstructed: true);
            if (!constraints.HasData || !constraints.PeekTag().HasSameClassAndValue(tag))
            {
                continue;
            }

            var subtrees = constraints.ReadSequence(tag);
            if (!subtrees.HasData)
            {
                throw new CertificateFormatException($"its name constraints have an empty list of {(permitted ? "permitted" : "excluded")} subtrees");
            }

            any = true;
            while (subtrees.HasData)
            {
                var subtree = subtrees.ReadSequence();
                var name = GeneralName.Read(subtree);
                if (subtree.HasData)
                {
                    throw new CertificateFormatException("its name constraints use minimum/maximum, which RFC 5280 forbids");
                }

                set.Add(name, permitted);
            }
        }

        constraints.ThrowIfNotEmpty();
        return any ? set : throw new CertificateFormatException("its name constraints extension has neither permitted nor excluded subtrees");
    }

    private void Add(GeneralName name, bool permitted)
    {
        switch (name.Kind)
        {
            case GeneralNameKind.Dns:
                var dns = name.Text!;
                if (dns.Length > 0 && !HostNames.IsValidHostName(dns, allowWildcard: false))
                {
                    throw new CertificateFormatException($"its name constraints hold the invalid DNS name '{SafeText.Ascii(dns)}' (a constraint is a plain host or domain name such as example.com, which also covers its subdomains; no leading period, no wildcard)");
                }

                (permitted ? PermittedDns ??= [] : ExcludedDns).Add(dns);
                break;
            case GeneralNameKind.IPAddress:
                var bytes = name.Bytes!;
                if (bytes.Length is not (8 or 32))
                {
                    throw new CertificateFormatException($"its name constraints hold an IP range of {bytes.Length} bytes (an address and a mask are 8 or 32 bytes)");
                }

                var address = bytes[..(bytes.Length / 2)];
                var mask = bytes[(bytes.Length / 2)..];
                if (!IsPrefixMask(mask))
                {
                    throw new CertificateFormatException("its name constraints hold an IP mask that is not a prefix (CIDR) mask");
                }

                (permitted ? PermittedIPs ??= [] : ExcludedIPs).Add((address, mask));
                break;
        }
    }

    private static bool IsPrefixMask(byte[] mask)
    {
        var value = new BigInteger(mask, isUnsigned: true, isBigEndian: true);
        var bits = mask.Length * 8;
        var inverted = (BigInteger.One << bits) - 1 - value;
        return (inverted & (inverted + 1)).IsZero;
    }
}
