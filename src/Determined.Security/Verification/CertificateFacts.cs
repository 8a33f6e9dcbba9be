using System.Formats.Asn1;
using System.Numerics;

namespace Determined.Security;

/// <summary>
/// What the server-certificate profile needs from one certificate, read straight from its DER with a bounded,
/// exception-free parser (the platform's accessors throw on malformed extensions and decode keys, which costs time).
/// A certificate that cannot be read has <see cref="Malformed"/> set and nothing else may be relied on.
/// </summary>
internal sealed class CertificateFacts
{
    internal const int KeyUsageDigitalSignature = 1 << 0;
    internal const int KeyUsageKeyEncipherment = 1 << 2;
    internal const int KeyUsageKeyAgreement = 1 << 4;
    internal const int KeyUsageKeyCertSign = 1 << 5;
    internal const int KeyUsageCrlSign = 1 << 6;

    private const string BasicConstraintsOid = "2.5.29.19";
    private const string KeyUsageOid = "2.5.29.15";
    private const string ExtendedKeyUsageOid = "2.5.29.37";
    private const string SubjectAltNameOid = "2.5.29.17";
    private const string NameConstraintsOid = "2.5.29.30";
    private const string PolicyConstraintsOid = "2.5.29.36";
    private const string AuthorityInfoAccessOid = "1.3.6.1.5.5.7.1.1";
    private const string SubjectKeyIdentifierOid = "2.5.29.14";
    private const string AuthorityKeyIdentifierOid = "2.5.29.35";

    private static readonly Asn1Tag s_context0 = new(TagClass.ContextSpecific, 0);
    private static readonly Asn1Tag s_context1 = new(TagClass.ContextSpecific, 1);
    private static readonly Asn1Tag s_context2 = new(TagClass.ContextSpecific, 2);
    private static readonly Asn1Tag s_context3 = new(TagClass.ContextSpecific, 3);

    private CertificateFacts()
    {
    }

    /// <summary>Gets why the certificate could not be read, or <see langword="null"/> when it could.</summary>
    public string? Malformed { get; private set; }

    /// <summary>Gets the X.509 version field: 0 for v1 (no extensions possible), 2 for v3.</summary>
    public int Version { get; private set; }

    public byte[] SerialNumber { get; private set; } = [];

    public string SignatureAlgorithm { get; private set; } = string.Empty;

    public DateTimeOffset NotBefore { get; private set; }

    public DateTimeOffset NotAfter { get; private set; }

    public bool SubjectIsEmpty { get; private set; }

    public bool SelfIssued { get; private set; }

    /// <summary>Gets the key, e.g. <c>RSA 2048 bits</c> or <c>EC P-256</c>.</summary>
    public string KeyDescription { get; private set; } = string.Empty;

    /// <summary>Gets why the key is not acceptable, or <see langword="null"/> when it is.</summary>
    public string? WeakKeyReason { get; private set; }

    public bool HasBasicConstraints { get; private set; }

    public bool IsCertificateAuthority { get; private set; }

    /// <summary>Gets the keyUsage bits (bit 0 = digitalSignature), or <see langword="null"/> without the extension.</summary>
    public int? KeyUsage { get; private set; }

    /// <summary>Gets the extended key usages, or <see langword="null"/> without the extension.</summary>
    public IReadOnlyList<string>? ExtendedKeyUsages { get; private set; }

    public bool HasSubjectAlternativeName { get; private set; }

    public bool SubjectAlternativeNameCritical { get; private set; }

    public List<string> DnsNames { get; } = [];

    public List<byte[]> IPAddresses { get; } = [];

    public NameConstraintSet? NameConstraints { get; private set; }

    public bool PolicyConstraintsNonCritical { get; private set; }

    /// <summary>Gets a value indicating whether an authority key identifier is present without its keyIdentifier field.</summary>
    public bool AuthorityKeyIdentifierWithoutKeyId { get; private set; }

    public static CertificateFacts Read(ReadOnlyMemory<byte> der)
    {
        var facts = new CertificateFacts();
        try
        {
            facts.Parse(der);
        }
        catch (Exception ex) when (ex is AsnContentException or CertificateFormatException or ArgumentException or InvalidOperationException or OverflowException or FormatException)
        {
            facts.Malformed ??= ex is CertificateFormatException ? ex.Message : "its DER encoding is invalid (" + ex.Message + ")";
        }

        return facts;
    }

    private void Parse(ReadOnlyMemory<byte> der)
    {
        var certificate = new AsnReader(der, AsnEncodingRules.BER).ReadSequence();
        var tbs = certificate.ReadSequence();
        var outerSignature = ReadAlgorithm(certificate, out _);
        certificate.ReadBitString(out _);
        certificate.ThrowIfNotEmpty();

        if (tbs.PeekTag().HasSameClassAndValue(s_context0))
        {
            Version = (int)tbs.ReadSequence(s_context0).ReadInteger();
        }

        SerialNumber = tbs.ReadIntegerBytes().ToArray();
        var innerSignature = ReadAlgorithm(tbs, out _);
        if (innerSignature != outerSignature)
        {
            throw new CertificateFormatException($"its two signature algorithm fields differ ({innerSignature} and {outerSignature})");
        }

        SignatureAlgorithm = outerSignature;
        var issuer = tbs.ReadEncodedValue();
        var validity = tbs.ReadSequence();
        NotBefore = ReadTime(validity);
        NotAfter = ReadTime(validity);
        validity.ThrowIfNotEmpty();
        var subject = tbs.ReadEncodedValue();
        SubjectIsEmpty = new AsnReader(subject, AsnEncodingRules.BER).ReadSequence() is var names && !names.HasData;
        SelfIssued = issuer.Span.SequenceEqual(subject.Span);
        ReadKey(tbs.ReadSequence());
        while (tbs.HasData)
        {
            var tag = tbs.PeekTag();
            if (tag.HasSameClassAndValue(s_context3))
            {
                ReadExtensions(tbs.ReadSequence(s_context3).ReadSequence());
            }
            else
            {
                tbs.ReadEncodedValue(); // issuerUniqueID / subjectUniqueID
            }
        }
    }

    private static string ReadAlgorithm(AsnReader reader, out ReadOnlyMemory<byte>? parameters)
    {
        var algorithm = reader.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        parameters = algorithm.HasData ? algorithm.ReadEncodedValue() : null;
        algorithm.ThrowIfNotEmpty();
        return oid;
    }

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime(2049) : reader.ReadGeneralizedTime();

    private void ReadKey(AsnReader spki)
    {
        var algorithm = ReadAlgorithm(spki, out var parameters);
        var key = spki.ReadBitString(out _);
        spki.ThrowIfNotEmpty();
        switch (algorithm)
        {
            case "1.2.840.113549.1.1.1": // rsaEncryption
            case "1.2.840.113549.1.1.10": // RSASSA-PSS
                var rsa = new AsnReader(key, AsnEncodingRules.BER).ReadSequence();
                var modulus = rsa.ReadInteger();
                var exponent = rsa.ReadInteger();
                if (modulus.Sign <= 0 || exponent <= 1 || exponent.IsEven)
                {
                    throw new CertificateFormatException("its RSA public key is invalid (non-positive modulus or even exponent)");
                }

                var bits = (int)modulus.GetBitLength();
                KeyDescription = $"RSA {bits} bits";
                WeakKeyReason = bits < 2048 ? $"RSA {bits} bits; at least 2048 are required" : null;
                break;
            case "1.2.840.10045.2.1": // id-ecPublicKey
                string? curve = null;
                if (parameters is { } p && new AsnReader(p, AsnEncodingRules.BER) is var curveReader && curveReader.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
                {
                    curve = curveReader.ReadObjectIdentifier();
                }

                (KeyDescription, WeakKeyReason) = curve switch
                {
                    "1.2.840.10045.3.1.7" => ("EC P-256", null),
                    "1.3.132.0.34" => ("EC P-384", null),
                    "1.3.132.0.35" => ("EC P-521", null),
                    null => ("EC with explicit curve parameters", "an EC key with explicit curve parameters; only the named curves P-256, P-384 and P-521 are accepted"),
                    "1.2.840.10045.3.1.1" => ("EC P-192", "EC P-192; only P-256, P-384 and P-521 are accepted"),
                    _ => ($"EC curve {curve}", $"EC curve {curve}; only P-256, P-384 and P-521 are accepted"),
                };
                break;
            case "1.3.101.112":
                KeyDescription = "Ed25519";
                break;
            case "1.3.101.113":
                KeyDescription = "Ed448";
                break;
            case "1.2.840.10040.4.1":
                KeyDescription = "DSA";
                WeakKeyReason = "a DSA key; use RSA (2048 bits or more) or EC P-256/P-384";
                break;
            default:
                KeyDescription = $"key algorithm {algorithm}";
                WeakKeyReason = $"the key algorithm {algorithm} is not supported for TLS; use RSA (2048 bits or more) or EC P-256/P-384";
                break;
        }
    }

    private void ReadExtensions(AsnReader extensions)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence();
            var oid = extension.ReadObjectIdentifier();
            var critical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
            var value = extension.ReadOctetString();
            extension.ThrowIfNotEmpty();
            if (!seen.Add(oid))
            {
                throw new CertificateFormatException($"it has the extension {oid} twice");
            }

            var reader = new AsnReader(value, AsnEncodingRules.BER);
            switch (oid)
            {
                case BasicConstraintsOid:
                    var basic = reader.ReadSequence();
                    HasBasicConstraints = true;
                    IsCertificateAuthority = basic.HasData && basic.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && basic.ReadBoolean();
                    if (basic.HasData)
                    {
                        basic.ReadInteger();
                    }

                    basic.ThrowIfNotEmpty();
                    break;
                case KeyUsageOid:
                    var bitString = reader.ReadBitString(out var unused);
                    var bitsValue = 0;
                    for (var i = 0; i < Math.Min(bitString.Length, 2) * 8; i++)
                    {
                        if ((bitString[i / 8] & (0x80 >> (i % 8))) != 0)
                        {
                            bitsValue |= 1 << i;
                        }
                    }

                    KeyUsage = bitsValue;
                    _ = unused;
                    break;
                case ExtendedKeyUsageOid:
                    var usages = new List<string>();
                    var ekuSequence = reader.ReadSequence();
                    while (ekuSequence.HasData)
                    {
                        usages.Add(ekuSequence.ReadObjectIdentifier());
                    }

                    ExtendedKeyUsages = usages;
                    break;
                case SubjectAltNameOid:
                    HasSubjectAlternativeName = true;
                    SubjectAlternativeNameCritical = critical;
                    ReadSubjectAlternativeNames(reader.ReadSequence());
                    break;
                case NameConstraintsOid:
                    NameConstraints = NameConstraintSet.Read(reader.ReadSequence(), critical);
                    break;
                case PolicyConstraintsOid:
                    reader.ReadSequence();
                    PolicyConstraintsNonCritical = !critical;
                    break;
                case AuthorityInfoAccessOid:
                    var access = reader.ReadSequence();
                    if (!access.HasData)
                    {
                        throw new CertificateFormatException("its authority information access extension is empty");
                    }

                    while (access.HasData)
                    {
                        var description = access.ReadSequence();
                        description.ReadObjectIdentifier();
                        GeneralName.Read(description);
                        description.ThrowIfNotEmpty();
                    }

                    break;
                case SubjectKeyIdentifierOid:
                    reader.ReadOctetString();
                    break;
                case AuthorityKeyIdentifierOid:
                    var aki = reader.ReadSequence();
                    AuthorityKeyIdentifierWithoutKeyId = true;
                    if (aki.HasData && aki.PeekTag().HasSameClassAndValue(s_context0))
                    {
                        aki.ReadOctetString(s_context0);
                        AuthorityKeyIdentifierWithoutKeyId = false;
                    }

                    if (aki.HasData && aki.PeekTag().HasSameClassAndValue(s_context1))
                    {
                        aki.ReadSequence(s_context1);
                    }

                    if (aki.HasData && aki.PeekTag().HasSameClassAndValue(s_context2))
                    {
                        aki.ReadIntegerBytes(s_context2);
                    }

                    aki.ThrowIfNotEmpty();
                    break;
                default:
                    continue;
            }

            reader.ThrowIfNotEmpty();
        }
    }

    private void ReadSubjectAlternativeNames(AsnReader names)
    {
        if (!names.HasData)
        {
            throw new CertificateFormatException("its subject alternative name extension is empty");
        }

        while (names.HasData)
        {
            var name = GeneralName.Read(names);
            switch (name.Kind)
            {
                case GeneralNameKind.Dns:
                    DnsNames.Add(name.Text!);
                    break;
                case GeneralNameKind.IPAddress when name.Bytes!.Length is 4 or 16:
                    IPAddresses.Add(name.Bytes);
                    break;
                case GeneralNameKind.IPAddress:
                    throw new CertificateFormatException($"its subject alternative name has an IP address of {name.Bytes!.Length} bytes (an address is 4 or 16 bytes)");
            }
        }
    }
}

/// <summary>A malformed structure inside a certificate; the message says what, for the rejection text.</summary>
internal sealed class CertificateFormatException(string message) : Exception(message);

internal enum GeneralNameKind
{
    Other,
    Dns,
    IPAddress,
    DirectoryName,
}

/// <summary>One GeneralName (RFC 5280 4.2.1.6); only the forms the profile checks are decoded.</summary>
internal readonly record struct GeneralName(GeneralNameKind Kind, string? Text, byte[]? Bytes)
{
    public static GeneralName Read(AsnReader reader)
    {
        var tag = reader.PeekTag();
        if (tag.TagClass != TagClass.ContextSpecific)
        {
            throw new CertificateFormatException($"a general name has the unexpected tag {tag}");
        }

        switch (tag.TagValue)
        {
            case 2:
                var bytes = reader.ReadOctetString(tag);
                foreach (var b in bytes)
                {
                    if (b is < 0x20 or > 0x7E)
                    {
                        throw new CertificateFormatException("a DNS name in it is not printable ASCII (IA5String); internationalized names must be written in their xn-- (punycode) form");
                    }
                }

                return new(GeneralNameKind.Dns, System.Text.Encoding.ASCII.GetString(bytes), null);
            case 7:
                return new(GeneralNameKind.IPAddress, null, reader.ReadOctetString(tag));
            case 1 or 6:
                reader.ReadOctetString(tag);
                return new(GeneralNameKind.Other, null, null);
            case 8:
                reader.ReadObjectIdentifier(tag);
                return new(GeneralNameKind.Other, null, null);
            case 4:
                var directory = reader.ReadSequence(tag);
                directory.ReadSequence();
                directory.ThrowIfNotEmpty();
                return new(GeneralNameKind.DirectoryName, null, null);
            case 0 or 3 or 5:
                reader.ReadSequence(tag);
                return new(GeneralNameKind.Other, null, null);
            default:
                throw new CertificateFormatException($"a general name has the unknown tag [{tag.TagValue}]");
        }
    }
}

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
