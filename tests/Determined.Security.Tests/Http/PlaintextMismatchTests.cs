using Determined.Testing;

namespace Determined.Security.Tests.Http;

public sealed class PlaintextMismatchTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task HttpsUrl_PlainHttpServer_ThrowsPlaintextServerWithFix()
    {
        await using var server = await TlsTestServer.StartAsync(certificate: null);
        var httpsUrl = new Uri($"https://127.0.0.1:{server.Port}");

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions(), httpsUrl));

        Assert.Equal(MasterConnectionError.PlaintextServer, ex.Error);
        Assert.Contains($"http://127.0.0.1:{server.Port}", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://master.example.com", "http://master.example.com:443")]
    [InlineData("https://10.0.0.5:8443", "http://10.0.0.5:8443")]
    [InlineData("https://[::1]:8443", "http://[::1]:8443")]
    public void PlaintextFix_PutsTlsFirst_AndNamesTheExactPlainAddressWithItsRisk(string url, string plain)
    {
        var fix = Messages.PlaintextFix(new Uri(url));

        Assert.StartsWith("enable TLS on the master", fix, StringComparison.Ordinal);
        Assert.Contains($"use {plain} (tokens and passwords then cross the network unencrypted)", fix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpUrl_TlsServer_ThrowsTlsServerOnPlaintextUrlWithFix()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var httpUrl = new Uri($"http://127.0.0.1:{server.Port}");

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions(), httpUrl));

        Assert.Equal(MasterConnectionError.TlsServerOnPlaintextUrl, ex.Error);
        Assert.Contains($"https://127.0.0.1:{server.Port}", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpUrl_RequireEncryption_IsRefusedBeforeConnecting()
    {
        await using var server = await TlsTestServer.StartAsync(certificate: null);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions { RequireEncryption = true }, server.Uri));

        Assert.Equal(MasterConnectionError.EncryptionRequired, ex.Error);
        Assert.Null(server.LastHost);
    }

    [Fact]
    public async Task HttpUrl_PlainServer_Works()
    {
        await using var server = await TlsTestServer.StartAsync(certificate: null);

        Assert.Contains("0.0.0-test", await Clients.GetInfoAsync(new TlsOptions(), server.Uri), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls13Minimum_Tls12OnlyServer_ThrowsHandshakeFailed()
    {
        await using var server = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = _pki.Leaf,
            Chain = [_pki.Intermediate],
            Protocols = System.Security.Authentication.SslProtocols.Tls12,
        });

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() =>
            Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, MinimumTlsVersion = TlsVersion.Tls13 }, server.Uri));

        Assert.Equal(MasterConnectionError.HandshakeFailed, ex.Error);
        Assert.Contains("MinimumTlsVersion", ex.SuggestedFix, StringComparison.Ordinal);
    }
}
