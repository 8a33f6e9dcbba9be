using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests;

/// <summary>
/// A certificate written field by field, with what <see cref="CertificateRequest"/> cannot produce: version 1, any serial
/// bytes (empty, negative, zero, 21 bytes), any signature algorithm identifier, an empty subject, critical flags of the
/// test's choosing. The signature is filler: these certificates feed the rules that run after the platform checked
/// signatures (<see cref="ServerCertificateProfile"/>), never a chain builder.
/// </summary>
internal sealed record RawCertificate
{
    public static readonly DateTimeOffset DefaultNotBefore = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static readonly DateTimeOffset DefaultNotAfter = new(2031, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly Lazy<byte[]> s_p256 = new(() =>
    {
        using var key = TestKeys.EcP256();
        return key.ExportSubjectPublicKeyInfo();
    });

    private static readonly Lazy<byte[]> s_rsa1024 = new(() =>
    {
        using var key = TestKeys.Rsa(1024);
        return key.ExportSubjectPublicKeyInfo();
    });

    /// <summary>The version field's value (2 = v3); <see langword="null"/> leaves the field out (v1).</summary>
    public int? Version { get; init; } = 2;

    /// <summary>The serial number's content octets, written as they are.</summary>
    public byte[] Serial { get; init; } = [0x2A, 0x17];

    /// <summary>The signature algorithm OID (both fields); ecdsa-with-SHA256 by default.</summary>
    public string SignatureOid { get; init; } = "1.2.840.10045.4.3.2";

    public string Issuer { get; init; } = "CN=Raw Intermediate";

    /// <summary>The subject; the empty string writes an empty name.</summary>
    public string Subject { get; init; } = "CN=master.example.com";

    public DateTimeOffset NotBefore { get; init; } = DefaultNotBefore;

    public DateTimeOffset NotAfter { get; init; } = DefaultNotAfter;

    /// <summary>The subject public key info; a P-256 key by default.</summary>
    public byte[]? PublicKey { get; init; }

    public IReadOnlyList<X509Extension> Extensions { get; init; } = [];

    public static byte[] Rsa1024PublicKey => s_rsa1024.Value;

    /// <summary>A server certificate: SAN <paramref name="dns"/>, serverAuth, digitalSignature.</summary>
    public static RawCertificate Server(params string[] dns)
    {
        return new RawCertificate
        {
            Extensions =
            [
                new X509BasicConstraintsExtension(false, false, 0, true),
                new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true),
                new X509EnhancedKeyUsageExtension([new Oid(TestCertificates.ServerAuth)], false),
                RawExtensions.San(dns),
            ],
        };
    }

    /// <summary>A CA certificate: CA:TRUE, keyCertSign and cRLSign, plus <paramref name="more"/>.</summary>
    public static RawCertificate Authority(string subject, string issuer, params X509Extension[] more) => new()
    {
        Subject = subject,
        Issuer = issuer,
        Extensions =
        [
            new X509BasicConstraintsExtension(true, false, 0, true),
            new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true),
            .. more,
        ],
    };

    /// <summary>The same certificate with <paramref name="extension"/> in place of the one with its OID (or added).</summary>
    public RawCertificate With(X509Extension extension) => this with
    {
        Extensions = [.. Extensions.Where(e => e.Oid!.Value != extension.Oid!.Value), extension],
    };

    /// <summary>The same certificate without the extension <paramref name="oid"/>.</summary>
    public RawCertificate Without(string oid) => this with { Extensions = [.. Extensions.Where(e => e.Oid!.Value != oid)] };

    public byte[] Encode()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                if (Version is { } version)
                {
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
                    {
                        writer.WriteInteger(version);
                    }
                }

                writer.WriteEncodedValue([0x02, (byte)Serial.Length, .. Serial]);
                WriteAlgorithm(writer);
                writer.WriteEncodedValue(Name(Issuer));
                using (writer.PushSequence())
                {
                    writer.WriteUtcTime(NotBefore);
                    writer.WriteUtcTime(NotAfter);
                }

                writer.WriteEncodedValue(Name(Subject));
                writer.WriteEncodedValue(PublicKey ?? s_p256.Value);
                if (Extensions.Count > 0)
                {
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3)))
                    using (writer.PushSequence())
                    {
                        foreach (var extension in Extensions)
                        {
                            using (writer.PushSequence())
                            {
                                writer.WriteObjectIdentifier(extension.Oid!.Value!);
                                if (extension.Critical)
                                {
                                    writer.WriteBoolean(true);
                                }

                                writer.WriteOctetString(extension.RawData);
                            }
                        }
                    }
                }
            }

            WriteAlgorithm(writer);
            writer.WriteBitString(new byte[64]);
        }

        return writer.Encode();
    }

    /// <summary>
    /// The certificate as the platform loads it; when the platform refuses these bytes (a zero-length serial, say), a
    /// certificate with the same subject stands in: the profile reads facts from the bytes and only the subject from here.
    /// </summary>
    public X509Certificate2 Load()
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(Encode());
        }
        catch (CryptographicException)
        {
            return X509CertificateLoader.LoadCertificate((this with { Serial = [0x01], Version = 2 }).Encode());
        }
    }

    private static byte[] Name(string name) => new X500DistinguishedName(name).RawData;

    private void WriteAlgorithm(AsnWriter writer)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(SignatureOid);
        }
    }
}

/// <summary>Extensions written byte by byte for <see cref="RawCertificate"/>.</summary>
internal static class RawExtensions
{
    /// <summary>subjectAltName with DNS names written as given, valid or not (CertificateRequest's builder refuses or rewrites odd ones), and IP addresses.</summary>
    public static X509Extension San(string[] dns, string[]? ips = null, bool critical = false)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var name in dns)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, name, new Asn1Tag(TagClass.ContextSpecific, 2));
            }

            foreach (var ip in ips ?? [])
            {
                writer.WriteOctetString(System.Net.IPAddress.Parse(ip).GetAddressBytes(), new Asn1Tag(TagClass.ContextSpecific, 7));
            }
        }

        return new X509Extension("2.5.29.17", writer.Encode(), critical);
    }

    /// <summary>nameConstraints (RFC 5280 4.2.1.10): DNS names ("example.com") and CIDR ranges ("10.0.0.0/8"); a null list is left out, an empty one is written empty.</summary>
    public static X509Extension NameConstraints(string[]? permitted, string[]? excluded, bool critical = true)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var (subtrees, tag) in new[] { (permitted, 0), (excluded, 1) })
            {
                if (subtrees is null)
                {
                    continue;
                }

                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, tag)))
                {
                    foreach (var subtree in subtrees)
                    {
                        using (writer.PushSequence())
                        {
                            var slash = subtree.IndexOf('/', StringComparison.Ordinal);
                            if (slash < 0)
                            {
                                writer.WriteCharacterString(UniversalTagNumber.IA5String, subtree, new Asn1Tag(TagClass.ContextSpecific, 2));
                                continue;
                            }

                            var address = System.Net.IPAddress.Parse(subtree[..slash]).GetAddressBytes();
                            var prefix = int.Parse(subtree[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                            var mask = new byte[address.Length];
                            for (var i = 0; i < prefix; i++)
                            {
                                mask[i / 8] |= (byte)(0x80 >> (i % 8));
                            }

                            writer.WriteOctetString([.. address, .. mask], new Asn1Tag(TagClass.ContextSpecific, 7));
                        }
                    }
                }
            }
        }

        return new X509Extension("2.5.29.30", writer.Encode(), critical);
    }

    /// <summary>policyConstraints with requireExplicitPolicy 0.</summary>
    public static X509Extension PolicyConstraints(bool critical) => new("2.5.29.36", [0x30, 0x03, 0x80, 0x01, 0x00], critical);

    /// <summary>An authorityKeyIdentifier with only the issuer name and serial (no keyIdentifier).</summary>
    public static X509Extension AuthorityKeyIdWithoutKeyId(string issuer) =>
        X509AuthorityKeyIdentifierExtension.CreateFromIssuerNameAndSerialNumber(new X500DistinguishedName(issuer), [0x01]);

    public static X509Extension KeyUsage(X509KeyUsageFlags flags) => new X509KeyUsageExtension(flags, true);

    public static X509Extension Eku(params string[] oids) => new X509EnhancedKeyUsageExtension([.. oids.Select(o => new Oid(o))], false);

    public static X509Extension BasicConstraints(bool ca) => new X509BasicConstraintsExtension(ca, false, 0, true);
}
