using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>The one reading of what a server presented in a handshake, and the one way a chain is written as PEM.</summary>
internal static class PresentedChain
{
    /// <summary>
    /// The certificates a server presented, leaf first: the leaf, then what the platform placed in the chain's
    /// <see cref="X509ChainPolicy.ExtraStore"/> (the rest of what was sent), without the leaf again.
    /// </summary>
    /// <param name="leaf">The server's certificate.</param>
    /// <param name="chain">The chain the handshake callback received, if any.</param>
    /// <param name="copy">Whether to return copies that outlive the handshake's objects.</param>
    public static List<X509Certificate2> Of(X509Certificate leaf, X509Chain? chain, bool copy = false)
    {
        var leafBytes = leaf.GetRawCertData();
        var list = new List<X509Certificate2> { copy || leaf is not X509Certificate2 l ? X509CertificateLoader.LoadCertificate(leafBytes) : l };
        foreach (var extra in chain?.ChainPolicy.ExtraStore ?? [])
        {
            if (!extra.RawDataMemory.Span.SequenceEqual(leafBytes))
            {
                list.Add(copy ? X509CertificateLoader.LoadCertificate(extra.RawData) : extra);
            }
        }

        return list;
    }

    /// <summary>Certificates as PEM, each followed by a newline (the form <c>certs.json</c> and Determined's CLI use).</summary>
    public static string ToPem(IEnumerable<X509Certificate2> certificates) =>
        string.Concat(certificates.Select(c => c.ExportCertificatePem() + "\n"));
}
