using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Samples.Common.Protocol;

/// <summary>What an agent's client certificate vouches for, as the master checks an agent id against it and the agent explains a refusal.</summary>
public static class AgentIdentity
{
    /// <summary>The certificate's CN and its DNS subject alternative names, each once, empty ones left out.</summary>
    public static IReadOnlyList<string> CertificateNames(X509Certificate2 certificate)
    {
        var names = new List<string> { certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false) };
        try
        {
            foreach (var san in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
            {
                names.AddRange(san.EnumerateDnsNames());
            }
        }
        catch (CryptographicException)
        {
            // A malformed SAN vouches for nothing; the CN still counts.
        }

        return [.. names.Where(n => n.Length > 0).Distinct(StringComparer.Ordinal)];
    }
}
