using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Testing;

/// <summary>Builds certificates at test time, including the broken ones a PKI helper would never make.</summary>
public static class TestCertificates
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    public static X509Certificate2 CreateRoot(string name = "Test Root CA")
    {
        using var key = TestKeys.EcP256();
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
    }

    public static X509Certificate2 CreateIntermediate(X509Certificate2 issuer, string name = "Test Intermediate CA", bool rsa = false, int rsaKeySize = 0, X509Extension? nameConstraints = null)
    {
        using AsymmetricAlgorithm key = rsa || rsaKeySize > 0 ? TestKeys.Rsa(rsaKeySize > 0 ? rsaKeySize : 2048) : TestKeys.EcP256();
        var request = key is RSA r
            ? new CertificateRequest("CN=" + name, r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest("CN=" + name, (ECDsa)key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        if (nameConstraints is not null)
        {
            request.CertificateExtensions.Add(nameConstraints);
        }

        using var cert = request.Create(issuer.SubjectName, Generator(issuer), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(4), RandomSerial());
        return key is RSA rk ? cert.CopyWithPrivateKey(rk) : cert.CopyWithPrivateKey((ECDsa)key);
    }

    public sealed record LeafSpec
    {
        public string[] Dns { get; init; } = ["localhost"];
        public IPAddress[] Ips { get; init; } = [IPAddress.Loopback];
        public string CommonName { get; init; } = "test-master";
        public DateTimeOffset NotBefore { get; init; } = DateTimeOffset.UtcNow.AddHours(-1);
        public DateTimeOffset NotAfter { get; init; } = DateTimeOffset.UtcNow.AddDays(30);
        public string[] Usages { get; init; } = [ServerAuth];
        public bool IsCa { get; init; }
        public int RsaKeySize { get; init; } // 0 = EC P-256
        public HashAlgorithmName Hash { get; init; } = HashAlgorithmName.SHA256;
        public bool NoSan { get; init; }
        public X509Extension[] Extensions { get; init; } = [];
        public X509KeyUsageFlags? KeyUsage { get; init; } // null = the usual flags for the key type
        public bool EmptySubject { get; init; } // an empty subject (RFC 5280 then wants a critical SAN; this one is not)
    }

    /// <summary>Issues a leaf; with <paramref name="issuer"/> null it is self-signed.</summary>
    public static X509Certificate2 CreateLeaf(X509Certificate2? issuer, LeafSpec? spec = null)
    {
        spec ??= new LeafSpec();
        using AsymmetricAlgorithm key = spec.RsaKeySize > 0 ? TestKeys.Rsa(spec.RsaKeySize) : TestKeys.EcP256();
        var subject = spec.EmptySubject ? new X500DistinguishedName(string.Empty) : new X500DistinguishedName("CN=" + spec.CommonName);
        var request = key is RSA rsa
            ? new CertificateRequest(subject, rsa, spec.Hash, RSASignaturePadding.Pkcs1)
            : new CertificateRequest(subject, (ECDsa)key, spec.Hash);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(spec.IsCa, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            spec.KeyUsage ?? (spec.IsCa ? X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature
            : key is RSA ? X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment : X509KeyUsageFlags.DigitalSignature), true));
        if (spec.Usages.Length > 0)
        {
            var oids = new OidCollection();
            foreach (var u in spec.Usages)
            {
                oids.Add(new Oid(u));
            }

            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }

        if (!spec.NoSan)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var d in spec.Dns)
            {
                san.AddDnsName(d);
            }

            foreach (var ip in spec.Ips)
            {
                san.AddIpAddress(ip);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        foreach (var extension in spec.Extensions)
        {
            request.CertificateExtensions.Add(extension);
        }

        if (issuer is null)
        {
            return request.CreateSelfSigned(spec.NotBefore, spec.NotAfter);
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var notAfter = spec.NotAfter > issuer.NotAfter ? new DateTimeOffset(issuer.NotAfter) : spec.NotAfter;
        var notBefore = spec.NotBefore < issuer.NotBefore ? new DateTimeOffset(issuer.NotBefore) : spec.NotBefore;
        using var cert = request.Create(issuer.SubjectName, Generator(issuer), notBefore, notAfter, RandomSerial());
        return key switch
        {
            RSA r => cert.CopyWithPrivateKey(r),
            ECDsa e => cert.CopyWithPrivateKey(e),
            _ => throw new InvalidOperationException(),
        };
    }

    /// <summary>A self-signed RSA 2048 root (keyCertSign, cRLSign), valid from a day ago for five years.</summary>
    public static X509Certificate2 CreateRsaRoot(string name = "Test RSA Root CA")
    {
        using var key = TestKeys.Rsa(2048);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
    }

    /// <summary>
    /// Everything <see cref="Issue"/> varies. The defaults: an EC P-256 leaf for master.example.com (subject and DNS SAN),
    /// serverAuth, the usual keyUsage, subject and authority key identifiers, valid from an hour ago for 30 days.
    /// </summary>
    public sealed record CertificateSpec
    {
        /// <summary>Gets the subject, a distinguished name ("CN=…"; empty for an empty subject).</summary>
        public string Subject { get; init; } = "CN=master.example.com";

        public bool IsCa { get; init; }

        /// <summary>Gets the keyUsage; null for the usual one (CA: keyCertSign, cRLSign; leaf: digitalSignature (+ keyEncipherment for RSA)).</summary>
        public X509KeyUsageFlags? KeyUsage { get; init; }

        /// <summary>Gets the extended key usages; null for no EKU extension.</summary>
        public string[]? Usages { get; init; } = [ServerAuth];

        /// <summary>Gets the DNS SANs, written as given (IA5String, no IDN mapping or checks); with no DNS or IP names there is no SAN extension.</summary>
        public string[] Dns { get; init; } = ["master.example.com"];

        public string[] Ips { get; init; } = [];

        public DateTimeOffset NotBefore { get; init; } = DateTimeOffset.UtcNow.AddHours(-1);

        public DateTimeOffset NotAfter { get; init; } = DateTimeOffset.UtcNow.AddDays(30);

        /// <summary>Gets the key factory; null (and no <see cref="Key"/>) for EC P-256.</summary>
        public Func<AsymmetricAlgorithm>? NewKey { get; init; }

        /// <summary>Gets a key shared with other certificates (the caller owns and disposes it); null to make one with <see cref="NewKey"/>.</summary>
        public AsymmetricAlgorithm? Key { get; init; }

        /// <summary>Gets a public key given as SubjectPublicKeyInfo (no private key: the certificate cannot issue); null to use a key.</summary>
        public Func<PublicKey>? PublicKey { get; init; }

        /// <summary>Gets a value indicating whether the certificate has a subjectKeyIdentifier.</summary>
        public bool SubjectKeyIdentifier { get; init; } = true;

        /// <summary>Gets a value indicating whether an issued certificate goes without the authorityKeyIdentifier naming its issuer.</summary>
        public bool NoAuthorityKeyIdentifier { get; init; }

        /// <summary>Gets an authorityKeyIdentifier written in place of the issuer's (also on a self-signed certificate).</summary>
        public X509Extension? AuthorityKeyIdentifier { get; init; }

        /// <summary>Gets extensions added after all the others.</summary>
        public X509Extension[] Extensions { get; init; } = [];

        /// <summary>Gets a value indicating whether the issuer (an RSA key) signs this certificate with SHA-1 (sha1WithRSAEncryption).</summary>
        public bool SignWithSha1 { get; init; }

        /// <summary>The same dates and key options as a CA named <paramref name="name"/>: CA:TRUE, no SAN, no EKU, the usual CA keyUsage.</summary>
        public CertificateSpec Authority(string name) => this with { Subject = "CN=" + name, IsCa = true, Dns = [], Ips = [], Usages = null };
    }

    /// <summary>A certificate (without its private key) and the key that signs what it issues (null for a raw public key).</summary>
    public sealed record Issued(X509Certificate2 Certificate, AsymmetricAlgorithm? Key);

    /// <summary>
    /// Issues a certificate exactly as <paramref name="spec"/> says, self-signed when <paramref name="issuer"/> is null;
    /// nothing is clamped or checked, so it makes the broken ones too. Extensions, in order: basicConstraints, keyUsage,
    /// EKU, SAN, subjectKeyIdentifier, authorityKeyIdentifier, then <see cref="CertificateSpec.Extensions"/>.
    /// </summary>
    public static Issued Issue(Issued? issuer, CertificateSpec spec)
    {
        var key = spec.PublicKey is null ? spec.Key ?? spec.NewKey?.Invoke() ?? TestKeys.EcP256() : null;
        var publicKey = spec.PublicKey?.Invoke() ?? new PublicKey(key!);
        var subject = new X500DistinguishedName(spec.Subject);
        var request = new CertificateRequest(subject, publicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(spec.IsCa, false, 0, true));
        var usage = spec.KeyUsage ?? (spec.IsCa
            ? X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign
            : key is RSA ? X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment : X509KeyUsageFlags.DigitalSignature);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        if (spec.Usages is { } usages)
        {
            var oids = new OidCollection();
            foreach (var u in usages)
            {
                oids.Add(new Oid(u));
            }

            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }

        if (spec.Dns.Length + spec.Ips.Length > 0)
        {
            request.CertificateExtensions.Add(RawSubjectAlternativeName(spec.Dns, spec.Ips));
        }

        if (spec.SubjectKeyIdentifier)
        {
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        }

        if (spec.AuthorityKeyIdentifier is { } authorityKeyIdentifier)
        {
            request.CertificateExtensions.Add(authorityKeyIdentifier);
        }
        else if (issuer is not null && !spec.NoAuthorityKeyIdentifier)
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));
        }

        foreach (var extension in spec.Extensions)
        {
            request.CertificateExtensions.Add(extension);
        }

        var signer = issuer?.Key ?? key ?? throw new ArgumentException("a certificate with a raw public key cannot sign itself", nameof(spec));
        X509SignatureGenerator generator = signer switch
        {
            RSA rsa when spec.SignWithSha1 => new Sha1RsaSignatureGenerator(rsa),
            RSA rsa => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
            ECDsa ec => X509SignatureGenerator.CreateForECDsa(ec),
            _ => throw new ArgumentException($"cannot sign with {signer.GetType().Name}", nameof(issuer)),
        };
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        using var certificate = request.Create(issuer?.Certificate.SubjectName ?? subject, generator, spec.NotBefore, spec.NotAfter, serial);
        return new Issued(X509CertificateLoader.LoadCertificate(certificate.RawData), key);
    }

    /// <summary>.NET refuses to sign with SHA-1, so the openssl CLI issues this one (ecdsa-with-SHA1, SAN IP:127.0.0.1, serverAuth).</summary>
    public static X509Certificate2 CreateSha1SignedLeafWithOpenSsl(X509Certificate2 issuer)
    {
        var dir = Directory.CreateTempSubdirectory("det-sha1-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "ca.pem"), Pem(issuer));
            File.WriteAllText(Path.Combine(dir, "ca.key"), KeyPem(issuer));
            File.WriteAllText(Path.Combine(dir, "ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
            Run(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.key");
            Run(dir, "req", "-new", "-key", "leaf.key", "-subj", "/CN=sha1-leaf", "-out", "leaf.csr");
            Run(dir, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-sha1", "-days", "2", "-extfile", "ext", "-out", "leaf.pem");
            using var loaded = X509Certificate2.CreateFromPemFile(Path.Combine(dir, "leaf.pem"), Path.Combine(dir, "leaf.key"));
            return X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public static string Run(string directory, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("openssl") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = ChildProcess.WithInput(System.Diagnostics.Process.Start(psi)!);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000) || p.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(' ', args)} failed: {stderr}");
        }

        return stdout.Result;
    }

    public static string Pem(params X509Certificate2[] certificates) =>
        string.Join("\n", certificates.Select(c => c.ExportCertificatePem())) + "\n";

    public static string KeyPem(X509Certificate2 certificate)
    {
        using AsymmetricAlgorithm key = (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() ?? certificate.GetRSAPrivateKey()!;
        return key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    private static X509SignatureGenerator Generator(X509Certificate2 issuer) =>
        issuer.GetECDsaPrivateKey() is { } ecKey
            ? X509SignatureGenerator.CreateForECDsa(ecKey)
            : X509SignatureGenerator.CreateForRSA(issuer.GetRSAPrivateKey()!, RSASignaturePadding.Pkcs1);

    private static byte[] RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        return serial;
    }

    /// <summary>subjectAltName with the names exactly as given (SubjectAlternativeNameBuilder would IDN-map and refuse some).</summary>
    private static X509Extension RawSubjectAlternativeName(string[] dns, string[] ips)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var name in dns)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, name, new Asn1Tag(TagClass.ContextSpecific, 2));
            }

            foreach (var ip in ips)
            {
                writer.WriteOctetString(IPAddress.Parse(ip).GetAddressBytes(), new Asn1Tag(TagClass.ContextSpecific, 7));
            }
        }

        return new X509Extension("2.5.29.17", writer.Encode(), false);
    }

    /// <summary>sha1WithRSAEncryption, which .NET's own generator refuses to produce.</summary>
    private sealed class Sha1RsaSignatureGenerator(RSA key) : X509SignatureGenerator
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier("1.2.840.113549.1.1.5");
                writer.WriteNull();
            }

            return writer.Encode();
        }

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) =>
            key.SignData(data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);

        protected override PublicKey BuildPublicKey() => new(key);
    }
}
