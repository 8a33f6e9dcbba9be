using System.Formats.Asn1;
using System.Numerics;

namespace Determined.Security;

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
