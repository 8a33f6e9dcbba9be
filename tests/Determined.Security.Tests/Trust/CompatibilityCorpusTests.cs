using System.ComponentModel;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests.Trust;

/// <summary>
/// A stricter verifier that breaks real clusters is a regression: certificates made at test time by the tools users really
/// use (openssl, .NET's CertificateRequest, Python's cryptography, Java's keytool, the SDK's own development CA) are
/// accepted when correctly pinned, for the names they carry, in both pinned trust modes; and every root of this machine's
/// system store passes the trust-anchor rules. A missing tool fails the test with the tool and the apt package to install.
/// </summary>
[Trait("Wine", Wine.ProductMakesKeys)]
public sealed class CompatibilityCorpusTests : IDisposable
{
    private static readonly Uri Localhost = new("https://localhost:8443");
    private static readonly Uri Loopback = new("https://127.0.0.1:8443");
    private static readonly MasterTrustMode[] PinnedModes = [MasterTrustMode.PinnedOnly, MasterTrustMode.PinnedAdded];
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(120);

    private const string SanLocalhostAndLoopback = "subjectAltName=DNS:localhost,IP:127.0.0.1";

    private readonly string _dir = Directory.CreateTempSubdirectory("det-compat-").FullName;
    private readonly ITestOutputHelper _output;

    public CompatibilityCorpusTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // ---- 1. openssl req -x509: the one-liner self-signed master certificate ----

    [Theory]
    [InlineData("rsa:2048")]
    [InlineData("ec:P-256")]
    [InlineData("rsa:4096")]
    public async Task OpenSslReqX509_SelfSignedWithSanAndCnNotAmongSans_AcceptedWhenPinned(string key)
    {
        var (certFile, _) = await OpenSslSelfSignedAsync("master", key);
        var cert = Load(certFile);

        Assert.Equal("CN=master", cert.Subject); // the CN is not one of the SANs: names come from the SAN only
        AssertAccepted(pinned: cert, cert, [], Localhost, Loopback);
    }

    // ---- 2. openssl CA + openssl x509 -req -CA ... -CAcreateserial ----

    [Fact]
    public async Task OpenSslX509Req_WithoutExtfile_NoSanCnOnly_RefusedWithNameMismatch()
    {
        // OpenSSL 3 "x509 -req" without -extfile copies no extension: a v1 certificate whose only name is CN=localhost.
        var ca = await OpenSslCaAsync("ca");
        var leafFile = await OpenSslIssueAsync(ca, "leaf", "/CN=localhost", "rsa:2048", extensions: null);
        var leaf = Load(leafFile);
        Assert.DoesNotContain(leaf.Extensions.Cast<X509Extension>(), e => e.Oid?.Value == "2.5.29.17");

        foreach (var mode in PinnedModes)
        {
            foreach (var url in new[] { Localhost, Loopback })
            {
                var ex = Assert.Throws<MasterConnectionException>(() => Resolver(ca.Certificate, mode).ValidateCertificate(url, leaf));
                Assert.True(ex.Error == MasterConnectionError.NameMismatch, $"{mode} {url}: expected NameMismatch, got {ex.Error}: {ex.Message}");
                Assert.Equal(new[] { MasterConnectionError.NameMismatch }, ex.Errors);
                Assert.Contains("CN-only certificates are not accepted", ex.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task OpenSslX509Req_ExtfileWithSanOnly_AcceptedWhenCaPinned()
    {
        var ca = await OpenSslCaAsync("ca");
        var leaf = Load(await OpenSslIssueAsync(ca, "leaf", "/CN=master", "rsa:2048", SanLocalhostAndLoopback + "\n"));

        AssertAccepted(pinned: ca.Certificate, leaf, [], Localhost, Loopback);
    }

    [Fact]
    public async Task OpenSslX509Req_ExtfileWithServerProfile_AcceptedWhenCaPinned()
    {
        var ca = await OpenSslCaAsync("ca");
        var extensions = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n" + SanLocalhostAndLoopback + "\n";
        var leaf = Load(await OpenSslIssueAsync(ca, "leaf", "/CN=master", "rsa:2048", extensions));

        AssertAccepted(pinned: ca.Certificate, leaf, [], Localhost, Loopback);
    }

    [Fact]
    public async Task OpenSslTutorialCa_NonCriticalBasicConstraintsOnly_IssuedLeafAcceptedWhenCaPinned()
    {
        // The tutorial CA: "openssl x509 -req -signkey ca.key -extfile ca.ext" with ca.ext = basicConstraints=CA:TRUE
        // (non-critical, no keyUsage).
        var caKey = P("tutorial-ca.key");
        await OpenSslAsync("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", P("tutorial-ca.csr"), "-subj", "/CN=Tutorial CA");
        await OpenSslAsync("x509", "-req", "-in", P("tutorial-ca.csr"), "-signkey", caKey, "-days", "30", "-sha256", "-extfile", Write("tutorial-ca.ext", "basicConstraints=CA:TRUE\n"), "-out", P("tutorial-ca.pem"));
        var ca = new OpenSslCa(Load(P("tutorial-ca.pem")), P("tutorial-ca.pem"), caKey);
        var basic = Assert.Single(ca.Certificate.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.False(basic.Critical);

        var leaf = Load(await OpenSslIssueAsync(ca, "leaf", "/CN=master", "rsa:2048", SanLocalhostAndLoopback + "\n"));

        AssertAccepted(pinned: ca.Certificate, leaf, [], Localhost, Loopback);
    }

    [Fact]
    public async Task OpenSslTutorialCa_Version1WithoutAnyExtension_IssuedLeafAcceptedWhenCaPinned()
    {
        // The oldest tutorial CA: "openssl x509 -req -signkey ca.key" with no extfile is a version-1 certificate (no
        // extensions, so no basicConstraints); OpenSSL and Go accept it as a trust anchor, and so does the SDK.
        var caKey = P("v1-ca.key");
        await OpenSslAsync("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", P("v1-ca.csr"), "-subj", "/CN=Version 1 CA");
        await OpenSslAsync("x509", "-req", "-in", P("v1-ca.csr"), "-signkey", caKey, "-days", "30", "-sha256", "-out", P("v1-ca.pem"));
        var ca = new OpenSslCa(Load(P("v1-ca.pem")), P("v1-ca.pem"), caKey);
        Assert.Equal(1, ca.Certificate.Version);
        Assert.Empty(ca.Certificate.Extensions);

        var leaf = Load(await OpenSslIssueAsync(ca, "leaf", "/CN=master", "rsa:2048", SanLocalhostAndLoopback + "\n"));

        AssertAccepted(pinned: ca.Certificate, leaf, [], Localhost, Loopback);
    }

    [Fact]
    public async Task OpenSslX509Req_WildcardAndMixedCaseSans_AcceptedForTheNamesTheyCover()
    {
        // Cluster certificates are often wildcards under a company domain, and people type names in any case.
        var ca = await OpenSslCaAsync("ca");
        var leaf = Load(await OpenSslIssueAsync(ca, "leaf", "/CN=master", "ec:P-256", "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:*.det.example.com,DNS:Master.Example.COM\n"));

        AssertAccepted(pinned: ca.Certificate, leaf, [], new Uri("https://master.det.example.com:8443"), new Uri("https://MASTER.det.example.com"), new Uri("https://master.example.com:8080"));
    }

    // ---- 3. a Let's Encrypt-shaped PKI made with openssl ----

    [Fact]
    public async Task OpenSslLetsEncryptStylePki_RootPinned_LeafWithIntermediateAccepted()
    {
        var pki = await LetsEncryptStylePkiAsync();

        AssertAccepted(pinned: pki.Root, pki.Leaf, [pki.Intermediate], Localhost);
    }

    [Fact]
    public async Task OpenSslLetsEncryptStylePki_OnlyIntermediatePinned_PartialChainAccepted()
    {
        var pki = await LetsEncryptStylePkiAsync();

        AssertAccepted(pinned: pki.Intermediate, pki.Leaf, [pki.Intermediate], Localhost);
    }

    [Fact]
    public async Task OpenSslLetsEncryptStylePki_EmptySubjectWithCriticalSan_AcceptedWhenRootPinned()
    {
        // Let's Encrypt's newer profiles issue leaves without a subject: the SAN is then critical (RFC 5280 4.2.1.6).
        var pki = await LetsEncryptStylePkiAsync();
        var leaf = Load(await OpenSslIssueAsync(pki.IntermediateCa, "le-empty-subject", "/", "ec:P-256", LetsEncryptLeafExtensions("subjectAltName=critical,DNS:localhost"), "-sha384"));
        Assert.Equal(string.Empty, leaf.Subject);

        AssertAccepted(pinned: pki.Root, leaf, [pki.Intermediate], Localhost);
    }

    // ---- 4. .NET CertificateRequest ----

    [Fact]
    public void DotNetCertificateRequest_SelfSignedWithOnlySan_AcceptedWhenPinned()
    {
        using var key = TestKeys.EcP256();
        var request = new CertificateRequest("CN=master", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(LocalhostAndLoopbackSan());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));

        AssertAccepted(pinned: cert, cert, [], Localhost, Loopback);
    }

    [Fact]
    public void DotNetCertificateRequest_SelfSignedRsaWithBasicConstraintsAndServerAuth_AcceptedWhenPinned()
    {
        using var key = TestKeys.Rsa(2048);
        var request = new CertificateRequest("CN=master", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(TestCertificates.ServerAuth)], false));
        request.CertificateExtensions.Add(LocalhostAndLoopbackSan());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));

        AssertAccepted(pinned: cert, cert, [], Localhost, Loopback);
    }

    // ---- 5. Python cryptography ----

    [Fact]
    public async Task PythonCryptography_SelfSignedTutorialCertificate_AcceptedWhenPinned()
    {
        await PythonCryptographyAsync();
        var cert = Load(P("py-selfsigned.pem"));

        AssertAccepted(pinned: cert, cert, [], Localhost);
    }

    [Fact]
    public async Task PythonCryptography_CaAndLeaf_AcceptedWhenCaPinned()
    {
        await PythonCryptographyAsync();

        AssertAccepted(pinned: Load(P("py-ca.pem")), Load(P("py-leaf.pem")), [], Localhost, Loopback);
    }

    // ---- 6. Java keytool ----

    [Fact]
    public async Task Keytool_GenKeyPairWithSan_ExportedPemAcceptedWhenPinned()
    {
        var store = await KeytoolSelfSignedAsync();
        var cert = Load(P("keytool-master.pem"));
        Assert.True(File.Exists(store));

        AssertAccepted(pinned: cert, cert, [], Localhost, Loopback);
    }

    [Fact]
    public async Task Keytool_CaSignedLeafFromGenCert_AcceptedWhenCaPinned()
    {
        var (ca, leaf) = await KeytoolCaAndLeafAsync();

        AssertAccepted(pinned: ca, leaf, [], Localhost, Loopback);
    }

    // ---- 7. the SDK's own development CA ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DevelopmentCertificateAuthority_MasterCertificate_AcceptedWhenRootPinned(bool withIntermediate)
    {
        using var ca = DevelopmentCertificateAuthority.Create(withIntermediate: withIntermediate);
        using var master = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);

        AssertAccepted(pinned: ca.RootCertificate, master.Certificate, [.. master.Intermediates], Localhost, Loopback);
    }

    // ---- 8. real handshakes, one per tool family, against openssl s_server ----

    [Fact]
    public async Task Handshake_OpenSslSelfSigned_Accepted()
    {
        var (certFile, keyFile) = await OpenSslSelfSignedAsync("master", "rsa:2048");
        var served = LoadWithKey(certFile, keyFile);

        await AssertHandshakeAcceptedAsync(pinned: Load(certFile), served, [], "127.0.0.1");
        await AssertHandshakeAcceptedAsync(pinned: Load(certFile), served, [], "localhost");
    }

    [Fact]
    public async Task Handshake_OpenSslLetsEncryptStyleChain_AcceptedWithRootOrIntermediatePinned()
    {
        var pki = await LetsEncryptStylePkiAsync();
        var served = LoadWithKey(pki.LeafFile, pki.LeafKeyFile);

        await AssertHandshakeAcceptedAsync(pinned: pki.Root, served, [pki.Intermediate], "localhost");
        await AssertHandshakeAcceptedAsync(pinned: pki.Intermediate, served, [pki.Intermediate], "localhost");
    }

    [Fact]
    public async Task Handshake_DotNetSelfSigned_Accepted()
    {
        using var key = TestKeys.EcP256();
        var request = new CertificateRequest("CN=master", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(LocalhostAndLoopbackSan());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));

        await AssertHandshakeAcceptedAsync(pinned: cert, cert, [], "127.0.0.1");
    }

    [Fact]
    public async Task Handshake_PythonCryptographyCaAndLeaf_Accepted()
    {
        await PythonCryptographyAsync();

        await AssertHandshakeAcceptedAsync(pinned: Load(P("py-ca.pem")), LoadWithKey(P("py-leaf.pem"), P("py-leaf.key")), [], "127.0.0.1");
    }

    [Fact]
    public async Task Handshake_KeytoolSelfSigned_Accepted()
    {
        var store = await KeytoolSelfSignedAsync();
        var served = X509CertificateLoader.LoadPkcs12FromFile(store, KeytoolPassword, X509KeyStorageFlags.Exportable);

        await AssertHandshakeAcceptedAsync(pinned: Load(P("keytool-master.pem")), served, [], "127.0.0.1");
    }

    [Fact]
    public async Task Handshake_DevelopmentCertificateAuthorityWithIntermediate_Accepted()
    {
        using var ca = DevelopmentCertificateAuthority.Create(withIntermediate: true);
        using var master = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);

        await AssertHandshakeAcceptedAsync(pinned: ca.RootCertificate, master.Certificate, [.. master.Intermediates], "127.0.0.1");
    }

    // ---- 9. every root of the system store passes the trust-anchor rules ----

    [Fact]
    public void SystemRootStore_EveryCaRoot_PassesTheTrustAnchorChecks()
    {
        using var store = new X509Store(StoreName.Root, StoreLocation.LocalMachine); // on Linux: OpenSSL's store (/etc/ssl/certs)
        store.Open(OpenFlags.ReadOnly);
        var roots = store.Certificates;
        Assert.True(roots.Count > 50, $"the machine's root store (X509Store Root/LocalMachine, OpenSSL's /etc/ssl/certs on Linux) holds only {roots.Count} certificates; install the apt package 'ca-certificates'");

        // The leaf only gives the root a place as the anchor of a two-element path; problems of the leaf are not judged.
        var issuer = TestCertificates.CreateRoot("Corpus Issuing CA");
        var leaf = TestCertificates.CreateLeaf(issuer);
        var leafFacts = CertificateFacts.Read(leaf.RawDataMemory);
        var failures = new List<string>();
        var notCas = new List<string>();
        var expired = new List<string>();
        var checkedRoots = 0;
        foreach (var root in roots)
        {
            var facts = CertificateFacts.Read(root.RawDataMemory);
            if (facts.Malformed is null && facts.HasBasicConstraints && !facts.IsCertificateAuthority)
            {
                // Debian's ssl-cert-snakeoil.pem: a self-signed server certificate (CA:FALSE) in /etc/ssl/certs, no authority.
                notCas.Add(root.Subject);
                continue;
            }

            checkedRoots++;
            if (facts.NotAfter < DateTimeOffset.UtcNow)
            {
                expired.Add($"{root.Subject} (until {facts.NotAfter:u})");
            }

            // Judged inside the root's own validity: the anchor rules are about its bytes; an expired root is refused by the
            // validity rule (docs/SECURITY-PROFILE.md rule 4), as by OpenSSL and Go, and that depends on the day the test runs.
            var during = facts.NotBefore + ((facts.NotAfter - facts.NotBefore) / 2);
            var problems = new List<CertificateProblem>();
            ServerCertificateProfile.Check([leaf, root], [leafFacts, facts], anchored: true, "localhost", during, problems);
            var aboutRoot = problems.Where(p => p.Detail.Contains("trusted CA certificate", StringComparison.Ordinal)).Select(p => $"{p.Error}: {p.Detail}").ToList();
            if (facts.Malformed is not null)
            {
                aboutRoot.Add("Malformed: " + facts.Malformed);
            }

            if (ServerCertificateProfile.WeakKeyReason(facts) is { } weak)
            {
                aboutRoot.Add($"WeakKey ({facts.KeyDescription}): {weak}");
            }

            if (!facts.IsCertificateAuthority)
            {
                aboutRoot.Add("not a CA (no basicConstraints CA:TRUE)");
            }

            if (aboutRoot.Count > 0)
            {
                failures.Add($"{root.Subject} (SHA-256 {CertificatePin.Sha256Fingerprint(root)}, {facts.KeyDescription}):\n  " + string.Join("\n  ", aboutRoot.Distinct()));
            }
        }

        _output.WriteLine($"checked {checkedRoots} system roots ({expired.Count} of them expired today, judged inside their validity: {string.Join("; ", expired)}); skipped {notCas.Count} self-signed non-CA certificate(s): {string.Join("; ", notCas)}");
        Assert.True(checkedRoots > 50, $"only {checkedRoots} CA roots in the system store; install the apt package 'ca-certificates'");
        Assert.True(failures.Count == 0, $"{failures.Count} of {checkedRoots} system roots fail the trust-anchor checks:\n" + string.Join("\n", failures));
    }

    // ---- helpers: trust decisions ----

    private static CertificateTrustResolver Resolver(X509Certificate2 pinned, MasterTrustMode mode) =>
        new(TlsPolicy.Create(new TlsOptions { MasterCertificatePem = TestCertificates.Pem(pinned), TrustMode = mode }));

    /// <summary>Validates in both pinned modes for every URL and reports every refusal at once, with its full message.</summary>
    private static void AssertAccepted(X509Certificate2 pinned, X509Certificate2 leaf, X509Certificate2[] intermediates, params Uri[] urls)
    {
        var refusals = new List<string>();
        foreach (var mode in PinnedModes)
        {
            foreach (var url in urls)
            {
                try
                {
                    Resolver(pinned, mode).ValidateCertificate(url, leaf, intermediates.Length == 0 ? null : [.. intermediates]);
                }
                catch (MasterConnectionException ex)
                {
                    refusals.Add($"[{mode}, {url}] {ex.Error} ({string.Join(", ", ex.Errors)}): {ex.Message}");
                }
            }
        }

        Assert.True(refusals.Count == 0, $"'{leaf.Subject}' pinned '{pinned.Subject}' was refused:\n" + string.Join("\n\n", refusals));
    }

    /// <summary>A real TLS handshake through the SDK's handler against <c>openssl s_server -www</c>, in both pinned modes.</summary>
    private static async Task AssertHandshakeAcceptedAsync(X509Certificate2 pinned, X509Certificate2 served, X509Certificate2[] chain, string host)
    {
        using var server = await OpenSslServer.StartAsync(served, chain);
        var url = new UriBuilder(server.Uri) { Host = host }.Uri;
        foreach (var mode in PinnedModes)
        {
            string page;
            try
            {
                page = await Clients.GetInfoAsync(new TlsOptions { MasterCertificatePem = TestCertificates.Pem(pinned), TrustMode = mode }, url);
            }
            catch (MasterConnectionException ex)
            {
                Assert.Fail($"[{mode}, {url}] handshake refused '{served.Subject}' pinned '{pinned.Subject}': {ex.Error} ({string.Join(", ", ex.Errors)}): {ex.Message}");
                throw;
            }

            Assert.Contains("<HTML>", page, StringComparison.Ordinal); // s_server -www answers every GET with its status page
        }
    }

    private static X509Extension LocalhostAndLoopbackSan()
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        return san.Build();
    }

    // ---- helpers: files and tools ----

    private string P(string name) => Path.Combine(_dir, name);

    private string Write(string name, string contents)
    {
        File.WriteAllText(P(name), contents);
        return P(name);
    }

    private static X509Certificate2 Load(string pemFile) => X509Certificate2.CreateFromPem(File.ReadAllText(pemFile));

    private static X509Certificate2 LoadWithKey(string certFile, string keyFile) => X509Certificate2.CreateFromPemFile(certFile, keyFile);

    /// <summary>Runs a tool to completion (bounded); a tool that is not installed fails the test naming it and its apt package.</summary>
    private static async Task<string> RunToolAsync(string tool, string aptPackage, IReadOnlyList<string> args)
    {
        ChildProcess.Result result;
        try
        {
            result = await ChildProcess.RunAsync(tool, args, timeout: ToolTimeout);
        }
        catch (Win32Exception ex)
        {
            Assert.Fail($"'{tool}' is not installed or not on PATH ({ex.Message}); install the apt package '{aptPackage}' (CI installs it).");
            throw;
        }

        Assert.True(result.ExitCode == 0, $"{tool} {string.Join(' ', args)} exited with {result.ExitCode}:\n{result.Output}");
        return result.Stdout;
    }

    private static Task<string> OpenSslAsync(params string[] args) => RunToolAsync("openssl", "openssl", args);

    private static string[] NewKey(string key) => key switch
    {
        "rsa:2048" or "rsa:4096" => ["-newkey", key],
        "ec:P-256" or "ec:P-384" => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + key[3..]],
        _ => throw new ArgumentOutOfRangeException(nameof(key), key, "unknown key type"),
    };

    private sealed record OpenSslCa(X509Certificate2 Certificate, string CertificateFile, string KeyFile);

    /// <summary><c>openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=master -addext subjectAltName=... -days 30</c>.</summary>
    private async Task<(string Cert, string Key)> OpenSslSelfSignedAsync(string name, string key)
    {
        var (cert, keyFile) = (P(name + ".pem"), P(name + ".key"));
        await OpenSslAsync(["req", "-x509", .. NewKey(key), "-nodes", "-keyout", keyFile, "-out", cert, "-subj", "/CN=master", "-addext", SanLocalhostAndLoopback, "-days", "30"]);
        return (cert, keyFile);
    }

    /// <summary>A CA the way most guides make it: <c>openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=Test CA"</c> (the configuration's v3_ca).</summary>
    private async Task<OpenSslCa> OpenSslCaAsync(string name)
    {
        var (cert, key) = (P(name + ".pem"), P(name + ".key"));
        await OpenSslAsync("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=Test CA " + name, "-days", "30");
        return new OpenSslCa(Load(cert), cert, key);
    }

    /// <summary><c>openssl req -new</c> then <c>openssl x509 -req -CA -CAkey -CAcreateserial [-extfile]</c>; returns the certificate file (key next to it).</summary>
    private async Task<string> OpenSslIssueAsync(OpenSslCa ca, string name, string subject, string key, string? extensions, string digest = "-sha256")
    {
        var (keyFile, csr, cert) = (P(name + ".key"), P(name + ".csr"), P(name + ".pem"));
        await OpenSslAsync(["req", "-new", .. NewKey(key), "-nodes", "-keyout", keyFile, "-out", csr, "-subj", subject]);
        string[] extfile = extensions is null ? [] : ["-extfile", Write(name + ".ext", extensions)];
        await OpenSslAsync(["x509", "-req", "-in", csr, "-CA", ca.CertificateFile, "-CAkey", ca.KeyFile, "-CAcreateserial", "-days", "30", digest, .. extfile, "-out", cert]);
        return cert;
    }

    private sealed record LetsEncryptStyle(X509Certificate2 Root, X509Certificate2 Intermediate, OpenSslCa IntermediateCa, X509Certificate2 Leaf, string LeafFile, string LeafKeyFile);

    private static string LetsEncryptLeafExtensions(string san) =>
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"
        + "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
        + "authorityInfoAccess=OCSP;URI:http://e5.o.lencr.test,caIssuers;URI:http://e5.i.lencr.test/\ncertificatePolicies=2.23.140.1.2.1\n"
        + san + "\n";

    /// <summary>
    /// RSA-4096 root (ISRG Root X1's extensions) → EC P-384 intermediate (E5's: pathlen 0, EKU serverAuth+clientAuth, AKI/SKI,
    /// AIA, CRL, policy) → EC P-256 leaf with SAN localhost signed with ECDSA-SHA384, all with the openssl CLI.
    /// </summary>
    private async Task<LetsEncryptStyle> LetsEncryptStylePkiAsync()
    {
        var rootConfig = Write("le-root.cnf", "[req]\ndistinguished_name = dn\n[dn]\n[v3_root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n");
        var (rootFile, rootKey) = (P("le-root.pem"), P("le-root.key"));
        await OpenSslAsync("req", "-x509", "-config", rootConfig, "-extensions", "v3_root", "-newkey", "rsa:4096", "-nodes", "-keyout", rootKey, "-out", rootFile, "-sha256",
            "-subj", "/C=US/O=Internet Security Research Group/CN=ISRG Root X1 (compat test)", "-days", "30");
        var root = new OpenSslCa(Load(rootFile), rootFile, rootKey);

        var intermediateFile = await OpenSslIssueAsync(root, "le-intermediate", "/C=US/O=Let's Encrypt/CN=E5 (compat test)", "ec:P-384",
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\nextendedKeyUsage=serverAuth,clientAuth\n"
            + "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\nauthorityInfoAccess=caIssuers;URI:http://x1.i.lencr.test/\n"
            + "crlDistributionPoints=URI:http://x1.c.lencr.test/\ncertificatePolicies=2.23.140.1.2.1\n");
        var intermediate = new OpenSslCa(Load(intermediateFile), intermediateFile, P("le-intermediate.key"));

        var leafFile = await OpenSslIssueAsync(intermediate, "le-leaf", "/CN=localhost", "ec:P-256", LetsEncryptLeafExtensions("subjectAltName=DNS:localhost"), "-sha384");
        return new LetsEncryptStyle(root.Certificate, intermediate.Certificate, intermediate, Load(leafFile), leafFile, P("le-leaf.key"));
    }

    /// <summary>
    /// Python's cryptography, as its documentation shows: a self-signed RSA certificate with SAN DNS:localhost
    /// (py-selfsigned.pem/.key), and an EC P-256 CA (py-ca.pem) with a leaf (py-leaf.pem/.key) for localhost and 127.0.0.1.
    /// </summary>
    private async Task PythonCryptographyAsync()
    {
        const string Script = """
            import datetime, ipaddress, os, sys
            from cryptography import x509
            from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec, rsa

            out = sys.argv[1]
            now = datetime.datetime.now(datetime.timezone.utc)

            def write(name, cert, key):
                with open(os.path.join(out, name + ".pem"), "wb") as f:
                    f.write(cert.public_bytes(serialization.Encoding.PEM))
                with open(os.path.join(out, name + ".key"), "wb") as f:
                    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

            # The "creating a self-signed certificate" tutorial.
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
                x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "My Company"),
                x509.NameAttribute(NameOID.COMMON_NAME, "mysite.com"),
            ])
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=10))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                .sign(key, hashes.SHA256()))
            write("py-selfsigned", cert, key)

            # The "creating a CA hierarchy" tutorial: root CA, then an end-entity certificate.
            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca_name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "My Company"), x509.NameAttribute(NameOID.COMMON_NAME, "PyCA Docs Root CA")])
            ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
            write("py-ca", ca, ca_key)

            leaf_key = ec.generate_private_key(ec.SECP256R1())
            leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "My Company")]))
                .issuer_name(ca.subject).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=10))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                    key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False)
                .sign(ca_key, hashes.SHA256()))
            write("py-leaf", leaf, leaf_key)
            """;
        ChildProcess.Result result;
        try
        {
            result = await ChildProcess.RunAsync("python3", ["-c", Script, _dir], timeout: ToolTimeout);
        }
        catch (Win32Exception ex)
        {
            Assert.Fail($"'python3' is not installed or not on PATH ({ex.Message}); install the apt packages 'python3' and 'python3-cryptography' (CI installs them).");
            throw;
        }

        Assert.False(result.Output.Contains("ModuleNotFoundError", StringComparison.Ordinal), "python3 has no 'cryptography' module; install the apt package 'python3-cryptography' (CI installs it):\n" + result.Output);
        Assert.True(result.ExitCode == 0, $"python3 cryptography script exited with {result.ExitCode}:\n{result.Output}");
    }

    private const string KeytoolPassword = "changeit";
    private const string KeytoolPackage = "default-jre-headless";

    private static Task<string> KeytoolAsync(params string[] args) => RunToolAsync("keytool", KeytoolPackage, args);

    private static string[] KeyStore(string path) => ["-keystore", path, "-storetype", "PKCS12", "-storepass", KeytoolPassword, "-keypass", KeytoolPassword, "-noprompt"];

    /// <summary><c>keytool -genkeypair -keyalg RSA -keysize 2048 -ext san=dns:localhost,ip:127.0.0.1 -dname CN=master</c>, then <c>-exportcert -rfc</c> to keytool-master.pem.</summary>
    private async Task<string> KeytoolSelfSignedAsync()
    {
        var store = P("keytool-master.p12");
        await KeytoolAsync(["-genkeypair", "-alias", "master", "-keyalg", "RSA", "-keysize", "2048", "-validity", "30", "-dname", "CN=master", "-ext", "san=dns:localhost,ip:127.0.0.1", .. KeyStore(store)]);
        await KeytoolAsync(["-exportcert", "-rfc", "-alias", "master", "-file", P("keytool-master.pem"), .. KeyStore(store)]);
        return store;
    }

    /// <summary>A keytool CA (<c>-ext bc:c</c>) signing a keytool leaf's request with <c>-gencert -ext san=... -ext eku=serverAuth</c>.</summary>
    private async Task<(X509Certificate2 Ca, X509Certificate2 Leaf)> KeytoolCaAndLeafAsync()
    {
        var (caStore, leafStore) = (P("keytool-ca.p12"), P("keytool-leaf.p12"));
        await KeytoolAsync(["-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-validity", "30", "-dname", "CN=Keytool CA", "-ext", "bc:c", .. KeyStore(caStore)]);
        await KeytoolAsync(["-exportcert", "-rfc", "-alias", "ca", "-file", P("keytool-ca.pem"), .. KeyStore(caStore)]);
        await KeytoolAsync(["-genkeypair", "-alias", "master", "-keyalg", "RSA", "-keysize", "2048", "-validity", "30", "-dname", "CN=master", .. KeyStore(leafStore)]);
        await KeytoolAsync(["-certreq", "-alias", "master", "-file", P("keytool-leaf.csr"), .. KeyStore(leafStore)]);
        await KeytoolAsync(["-gencert", "-alias", "ca", "-infile", P("keytool-leaf.csr"), "-outfile", P("keytool-leaf.pem"), "-rfc", "-validity", "30",
            "-ext", "san=dns:localhost,ip:127.0.0.1", "-ext", "eku=serverAuth", .. KeyStore(caStore)]);
        return (Load(P("keytool-ca.pem")), Load(P("keytool-leaf.pem")));
    }
}
