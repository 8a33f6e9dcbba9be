using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>Reads names from certificates without throwing on malformed extensions.</summary>
internal static class CertificateNames
{
    internal const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    public static (IReadOnlyList<string> Dns, IReadOnlyList<IPAddress> Ips) Read(X509Certificate2 certificate)
    {
        var facts = CertificateFacts.Read(certificate.RawDataMemory);
        return (facts.DnsNames.Select(Messages.Printable).ToList(), facts.IPAddresses.Select(a => new IPAddress(a)).ToList());
    }

    public static bool IsCertificateAuthority(X509Certificate2 certificate) => CertificateFacts.Read(certificate.RawDataMemory).IsCertificateAuthority;
}
