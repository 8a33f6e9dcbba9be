using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Determined.Security.Tests.Trust;

public sealed class ChainStatusTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void Evaluate_NoCertificate_IsClassified()
    {
        var resolver = new CertificateTrustResolver(TlsPolicy.Default);

        var ex = resolver.Evaluate("master", null, null, SslPolicyErrors.RemoteCertificateNotAvailable);

        Assert.NotNull(ex);
        Assert.Equal(MasterConnectionError.NoCertificate, ex.Error);
        Assert.Null(ex.Sha256Fingerprint);
    }

    [Fact]
    public async Task RevocationChecking_PrivateCaWithoutCrl_IsInvalidChainWithFix()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() =>
            Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, CheckCertificateRevocation = true }, server.Uri));

        Assert.Equal(MasterConnectionError.InvalidChain, ex.Error);
        Assert.Contains("CheckCertificateRevocation", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevocationChecking_LeafOnThePublishedCrl_IsRevoked()
    {
        byte[] crl = [];
        await using var crlServer = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Map = app => app.MapGet("/{name}.crl", () => Results.Bytes(crl, "application/pkix-crl")),
        });
        // A URL of its own: .NET caches downloaded CRLs on disk by URL, and a port reused from an earlier run would serve
        // that run's CRL (signed by another CA) from the cache.
        var cdp = CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([$"http://127.0.0.1:{crlServer.Port}/ca-{Guid.NewGuid():N}.crl"]);
        var leaf = TestCertificates.CreateLeaf(_pki.Intermediate, new() { Extensions = [cdp] });
        var builder = new CertificateRevocationListBuilder();
        builder.AddEntry(leaf, DateTimeOffset.UtcNow.AddMinutes(-5), X509RevocationReason.KeyCompromise);
        crl = builder.Build(_pki.Intermediate, 1, DateTimeOffset.UtcNow.AddDays(1), HashAlgorithmName.SHA256);
        await using var server = await TlsTestServer.StartAsync(leaf, _pki.Intermediate);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() =>
            Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, CheckCertificateRevocation = true }, server.Uri));

        Assert.Equal(MasterConnectionError.Revoked, ex.Error);
        Assert.Contains(X509ChainStatusFlags.Revoked, ex.ChainStatus);
    }
}
