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

    /// <summary>Gets the public key's algorithm (an OID, e.g. <c>1.2.840.113549.1.1.1</c> for RSA).</summary>
    public string KeyAlgorithm { get; private set; } = string.Empty;

    /// <summary>Gets the RSA modulus length in bits, or 0 for another key.</summary>
    public int RsaKeyBits { get; private set; }

    /// <summary>Gets the named curve of an EC key (an OID), or <see langword="null"/> for explicit curve parameters or another key.</summary>
    public string? EcCurve { get; private set; }

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
        KeyAlgorithm = algorithm;
        switch (algorithm)
        {
            case KeyAlgorithms.Rsa:
            case KeyAlgorithms.RsaPss:
                var rsa = new AsnReader(key, AsnEncodingRules.BER).ReadSequence();
                var modulus = rsa.ReadInteger();
                var exponent = rsa.ReadInteger();
                if (modulus.Sign <= 0 || exponent <= 1 || exponent.IsEven)
                {
                    throw new CertificateFormatException("its RSA public key is invalid (non-positive modulus or even exponent)");
                }

                RsaKeyBits = (int)modulus.GetBitLength();
                KeyDescription = $"RSA {RsaKeyBits} bits";
                break;
            case KeyAlgorithms.Ec:
                if (parameters is { } p && new AsnReader(p, AsnEncodingRules.BER) is var curveReader && curveReader.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
                {
                    EcCurve = curveReader.ReadObjectIdentifier();
                }

                KeyDescription = EcCurve switch
                {
                    KeyAlgorithms.P256 => "EC P-256",
                    KeyAlgorithms.P384 => "EC P-384",
                    KeyAlgorithms.P521 => "EC P-521",
                    KeyAlgorithms.P192 => "EC P-192",
                    null => "EC with explicit curve parameters",
                    _ => $"EC curve {EcCurve}",
                };
                break;
            case KeyAlgorithms.Ed25519:
                KeyDescription = "Ed25519";
                break;
            case KeyAlgorithms.Ed448:
                KeyDescription = "Ed448";
                break;
            case KeyAlgorithms.Dsa:
                KeyDescription = "DSA";
                break;
            default:
                KeyDescription = $"key algorithm {algorithm}";
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

/// <summary>The object identifiers of the public-key algorithms and curves the certificate reader names.</summary>
internal static class KeyAlgorithms
{
    public const string Rsa = "1.2.840.113549.1.1.1";
    public const string RsaPss = "1.2.840.113549.1.1.10";
    public const string Ec = "1.2.840.10045.2.1";
    public const string Ed25519 = "1.3.101.112";
    public const string Ed448 = "1.3.101.113";
    public const string Dsa = "1.2.840.10040.4.1";
    public const string P256 = "1.2.840.10045.3.1.7";
    public const string P384 = "1.3.132.0.34";
    public const string P521 = "1.3.132.0.35";
    public const string P192 = "1.2.840.10045.3.1.1";
}
