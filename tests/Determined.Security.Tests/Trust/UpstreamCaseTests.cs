using System.Net;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Determined.Security.Tests.Trust;

/// <summary>The cases Determined's own tests check (REFERENCE.md §6), against real Kestrel on 127.0.0.1.</summary>
public sealed class UpstreamCaseTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task PinnedChainFile_LeafWithIpSanAndCa_Succeeds()
    {
        var leaf = TestCertificates.CreateLeaf(_pki.Root, new() { Dns = [], Ips = [IPAddress.Loopback] });
        await using var server = await TlsTestServer.StartAsync(leaf);
        var chainFile = _pki.Write("chain.pem", TestCertificates.Pem(leaf, _pki.Root));

        var body = await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = chainFile }, server.Uri);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingPinned_PrivateCa_ThrowsUntrustedRoot()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions(), server.Uri));

        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
        Assert.Equal(CertificatePin.Sha256Fingerprint(_pki.Leaf), ex.Sha256Fingerprint);
        Assert.Contains("DET_MASTER_CERT_FILE", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("noverify")]
    [InlineData("NoVerify")]
    [InlineData("NOVERIFY")]
    public async Task NoVerify_AnyCase_AcceptsUntrustedCertificateAndWarns(string value)
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf);
        using var logs = new FakeLoggerFactory();

        var body = await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = value }, server.Uri, logs);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
        var warning = Assert.Single(logs.Records, r => r.Id.Id == 1002);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("verification is OFF", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PinnedAdded_ServerWithSystemTrustedCertificate_KeepsWorking()
    {
        // A "public" CA: trusted by the (injected) system roots, not pinned. The pinned file is an unrelated CA.
        var publicRoot = TestCertificates.CreateRoot("Public Root");
        var publicLeaf = TestCertificates.CreateLeaf(publicRoot);
        await using var server = await TlsTestServer.StartAsync(publicLeaf);
        var otherPinned = _pki.RootFile;

        var body = await Clients.GetInfoAsync(
            new TlsOptions { MasterCertificateFile = otherPinned },
            server.Uri,
            adjust: p => p.SystemRootsOverride = [publicRoot]);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PinnedOnly_ServerWithSystemTrustedCertificate_IsRejected()
    {
        var publicRoot = TestCertificates.CreateRoot("Public Root");
        var publicIntermediate = TestCertificates.CreateIntermediate(publicRoot, "Public Intermediate");
        var publicLeaf = TestCertificates.CreateLeaf(publicIntermediate);
        await using var server = await TlsTestServer.StartAsync(publicLeaf, publicIntermediate);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(
            new TlsOptions { MasterCertificateFile = _pki.RootFile, TrustMode = MasterTrustMode.PinnedOnly },
            server.Uri,
            adjust: p => p.SystemRootsOverride = [publicRoot]));

        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
    }

    [Fact]
    public async Task TwoMasters_EachWithItsOwnPinnedSelfSignedCertificate_WorkConcurrently()
    {
        var certA = TestCertificates.CreateLeaf(null, new() { CommonName = "master-a" });
        var certB = TestCertificates.CreateLeaf(null, new() { CommonName = "master-b" });
        await using var serverA = await TlsTestServer.StartAsync(certA);
        await using var serverB = await TlsTestServer.StartAsync(certB);
        using var clientA = Clients.Create(new TlsOptions { MasterCertificateFile = _pki.Write("a.pem", TestCertificates.Pem(certA)) }, serverA.Uri);
        using var clientB = Clients.Create(new TlsOptions { MasterCertificateFile = _pki.Write("b.pem", TestCertificates.Pem(certB)) }, serverB.Uri);

        var calls = Enumerable.Range(0, 10).SelectMany(_ => new[] { clientA.GetStringAsync("/info"), clientB.GetStringAsync("/info") });
        var results = await Task.WhenAll(calls);

        Assert.All(results, r => Assert.Contains("0.0.0-test", r, StringComparison.Ordinal));

        // And each pin only opens its own master.
        using var crossed = Clients.Create(new TlsOptions { MasterCertificateFile = _pki.Write("a2.pem", TestCertificates.Pem(certA)) }, serverB.Uri);
        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => crossed.GetStringAsync("/info"));
        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
    }

    [Fact]
    public async Task CiScenario_DnsOnlyCertificateReachedByIp_WithNameOverride_Succeeds()
    {
        var leaf = TestCertificates.CreateLeaf(_pki.Root, new() { Dns = ["determined-master-ci"], Ips = [] });
        await using var server = await TlsTestServer.StartAsync(leaf);
        var certFile = _pki.Write("ci.pem", TestCertificates.Pem(leaf, _pki.Root));

        var body = await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = certFile, MasterCertificateName = "determined-master-ci" }, server.Uri);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
        Assert.Equal("determined-master-ci", server.LastSni);
        Assert.Equal($"determined-master-ci:{server.Port}", server.LastHost);
    }

    [Fact]
    public async Task CiScenario_DnsOnlyCertificateReachedByIp_WithoutOverride_ThrowsNameMismatchListingNames()
    {
        var leaf = TestCertificates.CreateLeaf(_pki.Root, new() { Dns = ["determined-master-ci"], Ips = [] });
        await using var server = await TlsTestServer.StartAsync(leaf);
        var certFile = _pki.Write("ci.pem", TestCertificates.Pem(leaf, _pki.Root));

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = certFile }, server.Uri));

        Assert.Equal(MasterConnectionError.NameMismatch, ex.Error);
        Assert.Contains("determined-master-ci", ex.PresentedNames);
        Assert.Contains("determined-master-ci", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DET_MASTER_CERT_NAME", ex.SuggestedFix, StringComparison.Ordinal);
        Assert.Contains("security.tls.master_cert_name", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TaskScenario_LocalhostUrl_CertificateFor127001_WithIpOverride_Succeeds()
    {
        var leaf = TestCertificates.CreateLeaf(_pki.Root, new() { Dns = [], Ips = [IPAddress.Loopback] });
        await using var server = await TlsTestServer.StartAsync(leaf);
        var certFile = _pki.Write("task.pem", TestCertificates.Pem(leaf, _pki.Root));
        var url = new Uri($"https://localhost:{server.Port}");

        var body = await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = certFile, MasterCertificateName = "127.0.0.1" }, url);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
        Assert.Equal($"127.0.0.1:{server.Port}", server.LastHost);
        Assert.True(string.IsNullOrEmpty(server.LastSni), $"an IP address is never sent as SNI, saw '{server.LastSni}'");
    }

    [Fact]
    public async Task NoOverride_SniAndHostAreTheUrlHost()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var url = new Uri($"https://localhost:{server.Port}");

        await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile }, url);

        Assert.Equal("localhost", server.LastSni);
        Assert.Equal($"localhost:{server.Port}", server.LastHost);
    }
}
