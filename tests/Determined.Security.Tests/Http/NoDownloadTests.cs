using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests.Http;

/// <summary>
/// Rule 18a of docs/SECURITY-PROFILE.md: nothing a server names is ever fetched. The master's leaf names an issuer URL
/// (AIA caIssuers) on a local server that counts requests, and the master does not send that issuer. Whatever the client
/// does with the chain (probe it, trust it on first use, verify it against pins, or skip verification), the URL is never
/// requested. The platform's default chain policy would fetch it; every chain the SDK builds says otherwise.
/// </summary>
public sealed class NoDownloadTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task IssuerUrlInTheMastersCertificate_IsNeverFetched()
    {
        await using var issuerUrl = HostileServer.Start((_, _, stream, ct) => HostileServer.RespondAsync(stream, 200, "not a certificate", ct));
        var leaf = TestCertificates.CreateLeaf(_pki.Intermediate, new TestCertificates.LeafSpec
        {
            Extensions = [new X509AuthorityInformationAccessExtension(null, [new Uri(issuerUrl.Uri, "/issuer.crt").ToString()])],
        });
        using var server = await OpenSslServer.StartAsync(leaf, TestCertificates.CreateRoot("Unrelated CA"));

        var probe = await MasterProbe.ProbeAsync(server.Uri);
        Assert.Null(probe.ErrorText);
        Assert.Equal(0, issuerUrl.Requests);

        var tofu = new Determined.Security.TrustOnFirstUse(new MasterCertificateStore(Path.Combine(_pki.Directory, "config"))) { Prompt = (_, _) => ValueTask.FromResult(true) };
        await tofu.TrustAsync(server.Uri);
        Assert.Equal(0, issuerUrl.Requests);

        var pinned = await Assert.ThrowsAsync<MasterConnectionException>(() => GetAsync(server.Uri, new TlsOptions { MasterCertificatePem = TestCertificates.Pem(_pki.Root), TrustMode = MasterTrustMode.PinnedOnly }));
        Assert.Equal(MasterConnectionError.UntrustedRoot, pinned.Error);
        Assert.Equal(0, issuerUrl.Requests);

        await Assert.ThrowsAsync<MasterConnectionException>(() => GetAsync(server.Uri, new TlsOptions { MasterCertificatePem = TestCertificates.Pem(_pki.Root) }));
        Assert.Equal(0, issuerUrl.Requests);

        await GetAsync(server.Uri, new TlsOptions { DangerousSkipVerification = true });
        Assert.Equal(0, issuerUrl.Requests);
    }

    private static async Task GetAsync(Uri uri, TlsOptions options)
    {
        using var client = new HttpClient(MasterHttpHandlerFactory.Create(options).CreateHandler(uri));
        using var response = await client.GetAsync(uri);
    }
}
