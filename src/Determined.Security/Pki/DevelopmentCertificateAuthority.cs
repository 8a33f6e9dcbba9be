using Determined;
using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// A throw-away certificate authority for development, tests, demos and local clusters (what Dask's
/// <c>Security.temporary()</c> does, made real): a root, optionally an intermediate, and server and client
/// certificates issued from them with EC P-256 keys. Never use it for production masters.
/// </summary>
public sealed class DevelopmentCertificateAuthority : IDisposable
{
    private readonly TimeProvider _time;

    private DevelopmentCertificateAuthority(X509Certificate2 root, X509Certificate2? intermediate, TimeProvider time)
    {
        RootCertificate = root;
        IntermediateCertificate = intermediate;
        _time = time;
    }

    /// <summary>Gets the root CA certificate (with its private key): the certificate clients pin.</summary>
    public X509Certificate2 RootCertificate { get; }

    /// <summary>Gets the intermediate CA certificate (with its private key), or <see langword="null"/>.</summary>
    public X509Certificate2? IntermediateCertificate { get; }

    /// <summary>Creates a new root CA, and an intermediate CA under it when asked.</summary>
    /// <param name="name">The common name of the root; the intermediate gets the same name with <c>Intermediate</c>.</param>
    /// <param name="withIntermediate">Whether server and client certificates are issued by an intermediate CA.</param>
    /// <param name="timeProvider">The clock for validity periods; <see langword="null"/> for the system clock.</param>
    /// <returns>The authority.</returns>
    public static DevelopmentCertificateAuthority Create(string name = "Determined Development CA", bool withIntermediate = false, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var time = timeProvider ?? TimeProvider.System;
        var now = time.GetUtcNow();
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = CaRequest(name, rootKey, pathLength: withIntermediate ? 1 : 0);
        var root = rootRequest.CreateSelfSigned(now.AddHours(-1), now.AddYears(10));
        X509Certificate2? intermediate = null;
        if (withIntermediate)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = CaRequest(name + " Intermediate", key, pathLength: 0);
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
            using var issued = request.Create(root, now.AddHours(-1), now.AddYears(5), NewSerial());
            intermediate = issued.CopyWithPrivateKey(key);
        }

        return new DevelopmentCertificateAuthority(root, intermediate, time);
    }

    /// <summary>Issues a TLS server certificate (serverAuth) for the given names.</summary>
    /// <param name="dnsNames">DNS names (subject alternative names); the first is also the common name.</param>
    /// <param name="ipAddresses">IP addresses (subject alternative names).</param>
    /// <param name="validity">How long it is valid; 90 days by default.</param>
    /// <returns>The certificate with its private key and the intermediates to send with it.</returns>
    public DevelopmentCertificate IssueServerCertificate(IEnumerable<string> dnsNames, IEnumerable<IPAddress>? ipAddresses = null, TimeSpan? validity = null)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        var dns = dnsNames.ToList();
        var ips = ipAddresses?.ToList() ?? [];
        if (dns.Count == 0 && ips.Count == 0)
        {
            throw new ArgumentException("A server certificate needs at least one DNS name or IP address.", nameof(dnsNames));
        }

        var san = new SubjectAlternativeNameBuilder();
        dns.ForEach(san.AddDnsName);
        ips.ForEach(san.AddIpAddress);
        return Issue(dns.Count > 0 ? dns[0] : ips[0].ToString(), CertificateNames.ServerAuthOid, san.Build(), validity ?? TimeSpan.FromDays(90));
    }

    /// <summary>Issues a TLS client certificate (clientAuth), e.g. for an agent's mutual TLS.</summary>
    /// <param name="commonName">The subject common name (an agent id, a user).</param>
    /// <param name="validity">How long it is valid; 90 days by default.</param>
    /// <returns>The certificate with its private key and the intermediates to send with it.</returns>
    public DevelopmentCertificate IssueClientCertificate(string commonName, TimeSpan? validity = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(commonName);
        return Issue(commonName, "1.3.6.1.5.5.7.3.2", null, validity ?? TimeSpan.FromDays(90));
    }

    /// <summary>Writes the root certificate as PEM (the file clients pin: <c>DET_MASTER_CERT_FILE</c>, <c>security.tls.master_cert</c>).</summary>
    /// <param name="path">The file to write (mode 0644).</param>
    public void WriteRootCertificate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.WriteAllText(path, RootCertificate.ExportCertificatePem() + "\n", privateFile: false);
    }

    /// <summary>
    /// Creates a complete development PKI in a directory: <c>ca.crt</c>, <c>master.crt</c> (leaf and intermediates)
    /// with <c>master.key</c>, and one <c>&lt;name&gt;.crt</c>/<c>&lt;name&gt;.key</c> pair per client. Keys are mode 0600.
    /// </summary>
    /// <param name="directory">Where to write; created when missing.</param>
    /// <param name="masterDnsNames">DNS names of the master certificate.</param>
    /// <param name="masterIPAddresses">IP addresses of the master certificate.</param>
    /// <param name="clientNames">Common names of client certificates to issue (e.g. agent ids).</param>
    /// <param name="withIntermediate">Whether an intermediate CA issues the certificates.</param>
    /// <returns>The paths written.</returns>
    public static DevelopmentPkiFiles WriteDevelopmentPki(
        string directory,
        IEnumerable<string> masterDnsNames,
        IEnumerable<IPAddress>? masterIPAddresses = null,
        IEnumerable<string>? clientNames = null,
        bool withIntermediate = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(masterDnsNames);
        Directory.CreateDirectory(directory);
        using var ca = Create(withIntermediate: withIntermediate);
        var caFile = Path.Combine(directory, "ca.crt");
        ca.WriteRootCertificate(caFile);
        using var master = ca.IssueServerCertificate(masterDnsNames, masterIPAddresses);
        var masterCert = Path.Combine(directory, "master.crt");
        var masterKey = Path.Combine(directory, "master.key");
        master.WritePemFiles(masterCert, masterKey);
        var clients = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var name in clientNames ?? [])
        {
            using var client = ca.IssueClientCertificate(name);
            var certPath = Path.Combine(directory, name + ".crt");
            var keyPath = Path.Combine(directory, name + ".key");
            client.WritePemFiles(certPath, keyPath);
            clients[name] = (certPath, keyPath);
        }

        return new DevelopmentPkiFiles(caFile, masterCert, masterKey, clients);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        RootCertificate.Dispose();
        IntermediateCertificate?.Dispose();
    }

    private DevelopmentCertificate Issue(string commonName, string usage, X509Extension? san, TimeSpan validity)
    {
        var issuer = IntermediateCertificate ?? RootCertificate;
        var now = _time.GetUtcNow();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + Escape(commonName)), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (san is not null)
        {
            request.CertificateExtensions.Add(san);
        }

        var notAfter = now + validity;
        if (notAfter > issuer.NotAfter)
        {
            notAfter = issuer.NotAfter.ToUniversalTime();
        }

        using var issued = request.Create(issuer, now.AddHours(-1), notAfter, NewSerial());
        var chain = IntermediateCertificate is null ? Array.Empty<X509Certificate2>() : [X509CertificateLoader.LoadCertificate(IntermediateCertificate.RawData)];
        return new DevelopmentCertificate(issued.CopyWithPrivateKey(key), chain);
    }

    private static CertificateRequest CaRequest(string name, ECDsa key, int pathLength)
    {
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + Escape(name)), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, pathLength, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request;
    }

    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        return new BigInteger(serial, isUnsigned: true, isBigEndian: true).ToByteArray(isUnsigned: true, isBigEndian: true);
    }

    private static string Escape(string name) => name.Replace(",", "\\,", StringComparison.Ordinal).Replace("=", "\\=", StringComparison.Ordinal);
}
