using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests.Trust;

/// <summary>
/// Every kind of bad server certificate, served by real Kestrel, checked in every trust mode: each is rejected
/// with its own classification, and only skip-verify accepts it (with the warning logged).
/// </summary>
public sealed class BadCertificateMatrixTests : IDisposable
{
    private readonly TestPki _pki = new();

    public static TheoryData<string, MasterConnectionError> Defects => new()
    {
        { "expired", MasterConnectionError.Expired },
        { "not-yet-valid", MasterConnectionError.NotYetValid },
        { "wrong-name", MasterConnectionError.NameMismatch },
        { "self-signed-not-pinned", MasterConnectionError.UntrustedRoot },
        { "untrusted-root", MasterConnectionError.UntrustedRoot },
        { "missing-intermediate", MasterConnectionError.IncompleteChain },
        { "ca-as-leaf", MasterConnectionError.CaCertificateAsServer },
        { "client-auth-only", MasterConnectionError.WrongKeyUsage },
        { "rsa-1024", MasterConnectionError.WeakKey },
        { "sha1-signed", MasterConnectionError.WeakSignature },
        { "ca-with-san-as-leaf", MasterConnectionError.CaCertificateAsServer },
        { "leaf-with-keycertsign", MasterConnectionError.WrongKeyUsage },
        { "rsa-1024-intermediate", MasterConnectionError.WeakKey },
        { "public-suffix-wildcard", MasterConnectionError.NameMismatch },
        { "empty-subject-non-critical-san", MasterConnectionError.MalformedCertificate },
        { "excluded-by-name-constraint", MasterConnectionError.NameConstraintViolation },
        { "wildcard-over-excluded-name", MasterConnectionError.NameConstraintViolation },
    };

    public void Dispose() => _pki.Dispose();

    [Theory]
    [MemberData(nameof(Defects))]
    public async Task BadCertificate_InEveryTrustMode_IsRejectedWithItsClassification(string defect, MasterConnectionError expected)
    {
        var (leaf, chain) = Build(defect);
        // OpenSSL-backed .NET servers refuse to serve weak certificates; openssl s_server at level 0 does.
        var weak = defect is "rsa-1024" or "sha1-signed" or "rsa-1024-intermediate";
        // Name defects are checked against the name override (the URL is always 127.0.0.1).
        var certificateName = defect switch
        {
            "public-suffix-wildcard" => "master.co.uk",
            "excluded-by-name-constraint" => "localhost",
            "wildcard-over-excluded-name" => "bar.example.com",
            _ => null,
        };
        await using var kestrel = weak ? null : await TlsTestServer.StartAsync(leaf, chain);
        using var openssl = weak ? await OpenSslServer.StartAsync(leaf, chain) : null;
        var uri = kestrel?.Uri ?? openssl!.Uri;
        var rootFile = _pki.RootFile;
        X509Certificate2Collection systemRoots = [_pki.Root];

        var modes = new (string Name, TlsOptions Options, X509Certificate2Collection SystemRoots)[]
        {
            ("System", new TlsOptions { MasterCertificateName = certificateName }, systemRoots),
            ("PinnedAdded", new TlsOptions { MasterCertificateFile = rootFile, MasterCertificateName = certificateName }, []),
            ("PinnedOnly", new TlsOptions { MasterCertificateFile = rootFile, TrustMode = MasterTrustMode.PinnedOnly, MasterCertificateName = certificateName }, []),
        };

        foreach (var (name, options, roots) in modes)
        {
            var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(options, uri, adjust: p => p.SystemRootsOverride = roots));
            Assert.True(expected == ex.Error, $"{defect} in {name}: expected {expected}, got {ex.Error}: {ex.Message}");
            Assert.Equal(CertificatePin.Sha256Fingerprint(leaf), ex.Sha256Fingerprint);
            Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("BEGIN", ex.Message, StringComparison.Ordinal);
        }

        using var logs = new FakeLoggerFactory();
        var body = await Clients.GetInfoAsync(new TlsOptions { DangerousSkipVerification = true }, uri, logs);
        Assert.Contains(weak ? "<HTML>" : "0.0.0-test", body, StringComparison.Ordinal);
        Assert.Contains(logs.Records, r => r.Id.Name == "DangerousSkipVerification");
    }

    [Fact]
    public async Task GoodCertificate_InEveryTrustMode_IsAccepted()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var rootFile = _pki.RootFile;

        Assert.Contains("test", await Clients.GetInfoAsync(new TlsOptions(), server.Uri, adjust: p => p.SystemRootsOverride = [_pki.Root]), StringComparison.Ordinal);
        Assert.Contains("test", await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = rootFile }, server.Uri, adjust: p => p.SystemRootsOverride = []), StringComparison.Ordinal);
        Assert.Contains("test", await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = rootFile, TrustMode = MasterTrustMode.PinnedOnly }, server.Uri), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpiredCertificate_MessageShowsCertificateDatesAndLocalClock()
    {
        var (leaf, chain) = Build("expired");
        await using var server = await TlsTestServer.StartAsync(leaf, chain);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile }, server.Uri));

        Assert.Contains(leaf.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);
        Assert.Contains("this machine's clock says", ex.Message, StringComparison.Ordinal);
    }

    private (X509Certificate2 Leaf, X509Certificate2[] Chain) Build(string defect)
    {
        var i = _pki.Intermediate;
        switch (defect)
        {
            case "expired":
                return (TestCertificates.CreateLeaf(i, new() { NotBefore = DateTimeOffset.UtcNow.AddDays(-10), NotAfter = DateTimeOffset.UtcNow.AddDays(-1) }), [i]);
            case "not-yet-valid":
                return (TestCertificates.CreateLeaf(i, new() { NotBefore = DateTimeOffset.UtcNow.AddDays(2), NotAfter = DateTimeOffset.UtcNow.AddDays(30) }), [i]);
            case "wrong-name":
                return (TestCertificates.CreateLeaf(i, new() { Dns = ["other.example"], Ips = [] }), [i]);
            case "self-signed-not-pinned":
                return (TestCertificates.CreateLeaf(null), []);
            case "untrusted-root":
                var otherRoot = TestCertificates.CreateRoot("Other Root");
                var otherIntermediate = TestCertificates.CreateIntermediate(otherRoot, "Other Intermediate");
                return (TestCertificates.CreateLeaf(otherIntermediate), [otherIntermediate]);
            case "missing-intermediate":
                return (_pki.Leaf, []);
            case "ca-as-leaf":
                return (i, []);
            case "client-auth-only":
                return (TestCertificates.CreateLeaf(i, new() { Usages = [TestCertificates.ClientAuth] }), [i]);
            case "rsa-1024":
                return (TestCertificates.CreateLeaf(i, new() { RsaKeySize = 1024 }), [i]);
            case "sha1-signed":
                return (TestCertificates.CreateSha1SignedLeafWithOpenSsl(i), [i]);
            case "ca-with-san-as-leaf":
                return (TestCertificates.CreateLeaf(i, new() { IsCa = true }), [i]);
            case "leaf-with-keycertsign":
                return (TestCertificates.CreateLeaf(i, new() { KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign }), [i]);
            case "rsa-1024-intermediate":
                var weakCa = TestCertificates.CreateIntermediate(_pki.Root, "Weak RSA-1024 CA", rsaKeySize: 1024);
                return (TestCertificates.CreateLeaf(weakCa), [weakCa]);
            case "public-suffix-wildcard":
                return (TestCertificates.CreateLeaf(i, new() { Dns = ["*.co.uk"], Ips = [] }), [i]);
            case "empty-subject-non-critical-san":
                return (TestCertificates.CreateLeaf(i, new() { EmptySubject = true }), [i]);
            case "excluded-by-name-constraint":
                var constrained = TestCertificates.CreateIntermediate(_pki.Root, "Constrained CA", nameConstraints: RawExtensions.NameConstraints(permitted: null, excluded: ["localhost"]));
                return (TestCertificates.CreateLeaf(constrained, new() { Dns = ["localhost"], Ips = [] }), [constrained]);
            case "wildcard-over-excluded-name":
                var excluding = TestCertificates.CreateIntermediate(_pki.Root, "Excluding CA", nameConstraints: RawExtensions.NameConstraints(permitted: null, excluded: ["bar.example.com"]));
                return (TestCertificates.CreateLeaf(excluding, new() { Dns = ["*.example.com"], Ips = [] }), [excluding]);
            default:
                throw new ArgumentOutOfRangeException(nameof(defect), defect, null);
        }
    }
}
