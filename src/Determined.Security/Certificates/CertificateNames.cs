using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>Reads names and constraints from certificates.</summary>
internal static class CertificateNames
{
    internal const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    internal const string AnyExtendedKeyUsageOid = "2.5.29.37.0";

    public static (IReadOnlyList<string> Dns, IReadOnlyList<IPAddress> Ips) Read(X509Certificate2 certificate)
    {
        var dns = new List<string>();
        var ips = new List<IPAddress>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                dns.AddRange(san.EnumerateDnsNames());
                ips.AddRange(san.EnumerateIPAddresses());
            }
        }

        return (dns, ips);
    }

    public static bool IsCertificateAuthority(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);

    /// <summary>False when an EKU extension exists and allows neither serverAuth nor any usage.</summary>
    public static bool AllowsServerAuthentication(X509Certificate2 certificate)
    {
        var eku = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault();
        if (eku is null)
        {
            return true;
        }

        foreach (var oid in eku.EnhancedKeyUsages)
        {
            if (oid.Value is ServerAuthOid or AnyExtendedKeyUsageOid)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Key size below what any current TLS stack accepts (RSA/DSA below 2048 bits, EC below 224).</summary>
    public static bool HasWeakKey(X509Certificate2 certificate, out string description)
    {
        using (var rsa = certificate.GetRSAPublicKey())
        {
            if (rsa is not null)
            {
                description = $"RSA {rsa.KeySize} bits";
                return rsa.KeySize < 2048;
            }
        }

        using (var ec = certificate.GetECDsaPublicKey())
        {
            if (ec is not null)
            {
                description = $"EC {ec.KeySize} bits";
                return ec.KeySize < 224;
            }
        }

        description = certificate.PublicKey.Oid.FriendlyName ?? certificate.PublicKey.Oid.Value ?? "unknown key";
        return false;
    }

    /// <summary>MD5 or SHA-1 signatures (only meaningful for certificates that are not trust anchors).</summary>
    public static bool HasWeakSignature(X509Certificate2 certificate, out string algorithm)
    {
        algorithm = certificate.SignatureAlgorithm.FriendlyName ?? certificate.SignatureAlgorithm.Value ?? "unknown";
        return certificate.SignatureAlgorithm.Value is
            "1.2.840.113549.1.1.4" // md5WithRSAEncryption
            or "1.2.840.113549.1.1.5" // sha1WithRSAEncryption
            or "1.2.840.10045.4.1" // ecdsa-with-SHA1
            or "1.2.840.10040.4.3"; // dsa-with-sha1
    }
}
