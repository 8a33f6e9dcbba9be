using System.Text.RegularExpressions;
using Determined.Testing;

namespace Determined.Security.Tests.Trust;

/// <summary>
/// A refusal's fix that names a setting, a URL or a command is applied exactly as written, and the same request then
/// succeeds: no fix that fails the same way. (The fixes that name 'det tls trust' for a changed or untrusted
/// self-signed master are run through the real CLI in CliTests and in OpenSslSelfSignedMasterTests.)
/// </summary>
public sealed partial class SuggestedFixTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private static async Task<MasterConnectionException> RefusedAsync(TlsOptions options, Uri uri) =>
        await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(options, uri, adjust: r => r.SystemRootsOverride = []));

    [Fact]
    public async Task NameMismatch_TheNameOverrideTheFixNames_ThenSucceeds()
    {
        var leaf = TestCertificates.CreateLeaf(_pki.Intermediate, new() { Dns = ["determined-master-ci"], Ips = [] });
        await using var server = await TlsTestServer.StartAsync(leaf, _pki.Intermediate);
        var options = new TlsOptions { MasterCertificateFile = _pki.RootFile };

        var ex = await RefusedAsync(options, server.Uri);

        Assert.Equal(MasterConnectionError.NameMismatch, ex.Error);
        var name = QuotedName().Match(ex.SuggestedFix).Groups[1].Value;
        Assert.Contains("MasterCertificateName", ex.SuggestedFix, StringComparison.Ordinal);
        options.MasterCertificateName = name;
        Assert.Contains("test", await Clients.GetInfoAsync(options, server.Uri, adjust: r => r.SystemRootsOverride = []), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UntrustedRoot_TrustingTheFingerprintTheFixNames_ThenSucceeds()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var ex = await RefusedAsync(new TlsOptions(), server.Uri);
        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
        var fingerprint = Fingerprint().Match(ex.SuggestedFix).Value;
        Assert.Contains("det tls trust", ex.SuggestedFix, StringComparison.Ordinal);

        var store = new MasterCertificateStore(Path.Combine(_pki.Directory, "config"));
        await new Determined.Security.TrustOnFirstUse(store) { ExpectedPin = CertificatePin.Parse(fingerprint) }.TrustAsync(server.Uri);
        var policy = new Determined.Security.TrustOnFirstUse(store).ApplyStoredTrust(server.Uri, TlsPolicy.Default);

        using var http = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(policy) { SystemRootsOverride = [] }).CreateHandler(server.Uri)) { BaseAddress = server.Uri };
        Assert.Contains("test", await http.GetStringAsync("/info"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UntrustedRoot_PinningTheCaTheFixNames_ThenSucceeds()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var ex = await RefusedAsync(new TlsOptions(), server.Uri);
        Assert.Contains("DET_MASTER_CERT_FILE", ex.SuggestedFix, StringComparison.Ordinal);

        Assert.Contains("test", await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile }, server.Uri, adjust: r => r.SystemRootsOverride = []), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlaintextServer_TheHttpUrlTheFixNames_ThenSucceeds_AndTlsOnHttp_TheHttpsUrl()
    {
        await using var plain = await TlsTestServer.StartAsync((System.Security.Cryptography.X509Certificates.X509Certificate2?)null);
        var toPlain = await RefusedAsync(new TlsOptions(), new Uri($"https://127.0.0.1:{plain.Port}"));
        Assert.Equal(MasterConnectionError.PlaintextServer, toPlain.Error);
        var httpUrl = new Uri(HttpUrl().Match(toPlain.SuggestedFix).Value);
        Assert.Contains("test", await Clients.GetInfoAsync(new TlsOptions(), httpUrl), StringComparison.Ordinal);

        await using var tls = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var toTls = await RefusedAsync(new TlsOptions(), new Uri($"http://127.0.0.1:{tls.Port}"));
        Assert.Equal(MasterConnectionError.TlsServerOnPlaintextUrl, toTls.Error);
        var httpsUrl = new Uri(HttpsUrl().Match(toTls.SuggestedFix).Value);
        Assert.Contains("test", await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile }, httpsUrl, adjust: r => r.SystemRootsOverride = []), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IncompleteChain_ServingTheFullChainAsTheFixSays_ThenSucceeds()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf);
        var options = new TlsOptions { MasterCertificateFile = _pki.RootFile };
        var ex = await RefusedAsync(options, server.Uri);
        Assert.Equal(MasterConnectionError.IncompleteChain, ex.Error);
        Assert.Contains("security.tls.cert must hold the full chain", ex.SuggestedFix, StringComparison.Ordinal);

        server.SetCertificate(_pki.Leaf, _pki.Intermediate); // what the master's operator does: leaf, then the intermediate

        Assert.Contains("test", await Clients.GetInfoAsync(options, server.Uri, adjust: r => r.SystemRootsOverride = []), StringComparison.Ordinal);
    }

    [GeneratedRegex("to '([^']+)'")]
    private static partial Regex QuotedName();

    [GeneratedRegex("[0-9a-f]{2}(:[0-9a-f]{2}){31}")]
    private static partial Regex Fingerprint();

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+")]
    private static partial Regex HttpUrl();

    [GeneratedRegex(@"https://127\.0\.0\.1:\d+")]
    private static partial Regex HttpsUrl();
}
