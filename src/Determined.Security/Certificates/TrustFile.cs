using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// Loads trust material the way <see cref="TlsOptions.MasterCertificateFile"/> does, for code that needs the certificates
/// themselves (a server validating its clients against a CA, a tool listing pins): PEM bundles, a PKCS#12 truststore
/// without private keys, or a directory of <c>.pem</c>/<c>.crt</c> files. Binary DER is refused with the <c>openssl</c>
/// command that converts it, and a Java keystore with the <c>keytool</c> one. Reads are bounded; special files (FIFOs,
/// devices) are refused; symbolic links are followed to a regular file (Kubernetes mounts secrets through them).
/// </summary>
public static class TrustFile
{
    /// <summary>Loads every certificate of a trust file or directory.</summary>
    /// <param name="path">The file or directory.</param>
    /// <returns>The certificates, at least one.</returns>
    /// <exception cref="DeterminedConfigurationException">The path is missing, unreadable, or holds no usable certificate; every problem is listed with its fix.</exception>
    public static X509Certificate2Collection Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var errors = new List<string>();
        var certificates = TrustMaterialFiles.LoadTrustFile(path, "the trust file", errors);
        return errors.Count == 0 ? certificates : throw new DeterminedConfigurationException(errors);
    }
}
