using Determined;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>A certificate issued by a <see cref="DevelopmentCertificateAuthority"/>, with its private key and the intermediates to send with it.</summary>
public sealed class DevelopmentCertificate : IDisposable
{
    internal DevelopmentCertificate(X509Certificate2 certificate, IReadOnlyList<X509Certificate2> intermediates)
    {
        Certificate = certificate;
        Intermediates = intermediates;
    }

    /// <summary>Gets the certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Gets the intermediate CA certificates between it and the root (empty when the root issued it).</summary>
    public IReadOnlyList<X509Certificate2> Intermediates { get; }

    /// <summary>Returns the certificate and its intermediates as PEM, leaf first (what a master's <c>security.tls.cert</c> holds).</summary>
    /// <returns>PEM text.</returns>
    public string ExportChainPem() =>
        string.Join("\n", new[] { Certificate }.Concat(Intermediates).Select(c => c.ExportCertificatePem())) + "\n";

    /// <summary>Writes the chain (leaf first) and the PKCS#8 private key as PEM files; the key file gets mode 0600.</summary>
    /// <param name="certificatePath">Where to write the certificate chain.</param>
    /// <param name="keyPath">Where to write the private key.</param>
    public void WritePemFiles(string certificatePath, string keyPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(certificatePath);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPath);
        AtomicFile.WriteAllText(certificatePath, ExportChainPem(), privateFile: false);
        using var key = (AsymmetricAlgorithm?)Certificate.GetECDsaPrivateKey() ?? Certificate.GetRSAPrivateKey()
            ?? throw new InvalidOperationException("The certificate has no private key.");
        AtomicFile.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n", privateFile: true);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var c in Intermediates)
        {
            c.Dispose();
        }
    }
}

/// <summary>The files written by <see cref="DevelopmentCertificateAuthority.WriteDevelopmentPki"/>.</summary>
/// <param name="CaCertificateFile">The root CA certificate to pin.</param>
/// <param name="MasterCertificateFile">The master's certificate chain (leaf first).</param>
/// <param name="MasterKeyFile">The master's private key (mode 0600).</param>
/// <param name="ClientFiles">Per client name: its certificate chain and private key files.</param>
public sealed record DevelopmentPkiFiles(
    string CaCertificateFile,
    string MasterCertificateFile,
    string MasterKeyFile,
    IReadOnlyDictionary<string, (string CertificateFile, string KeyFile)> ClientFiles)
{
    /// <summary>Gets the root CA certificate to pin.</summary>
    public string CaCertificateFile { get; init; } = CaCertificateFile ?? throw new ArgumentNullException(nameof(CaCertificateFile));

    /// <summary>Gets the master's certificate chain (leaf first).</summary>
    public string MasterCertificateFile { get; init; } = MasterCertificateFile ?? throw new ArgumentNullException(nameof(MasterCertificateFile));

    /// <summary>Gets the master's private key (mode 0600).</summary>
    public string MasterKeyFile { get; init; } = MasterKeyFile ?? throw new ArgumentNullException(nameof(MasterKeyFile));

    /// <summary>Gets, per client name, its certificate chain and private key files.</summary>
    public IReadOnlyDictionary<string, (string CertificateFile, string KeyFile)> ClientFiles { get; init; } = ClientFiles ?? throw new ArgumentNullException(nameof(ClientFiles));
}
