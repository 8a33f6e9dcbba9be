using System.Net.Security;
using System.Security.Authentication;
using Determined.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Determined.Security.Tests.Identity;

public sealed class CipherAndReloadTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private Task<TlsTestServer> OneSuiteServerAsync() => TlsTestServer.StartAsync(new TlsTestServer.Options
    {
        Certificate = _pki.Leaf,
        Chain = [_pki.Intermediate],
        Protocols = SslProtocols.Tls12,
        CipherSuites = new CipherSuitesPolicy([TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]),
    });

    [Fact]
    public async Task CipherSuites_NoCommonSuite_IsAClassifiedHandshakeError_MatchingSuiteWorks()
    {
        await using var server = await OneSuiteServerAsync();

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() =>
            Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, CipherSuites = "ECDHE-ECDSA-AES128-GCM-SHA256" }, server.Uri));
        Assert.Equal(MasterConnectionError.HandshakeFailed, ex.Error);
        Assert.Contains("cipher suite", ex.SuggestedFix, StringComparison.Ordinal);

        Assert.Contains("0.0.0-test", await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, CipherSuites = "ECDHE-ECDSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256" }, server.Uri), StringComparison.Ordinal);
        Assert.Contains("0.0.0-test", await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, CipherSuites = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" }, server.Uri), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ECDHE-RSA-AES128-GCM-SHA256:BOGUS-CIPHER", "'BOGUS-CIPHER' is not a known cipher suite")]
    [InlineData("HIGH:!aNULL", "keyword 'HIGH'")]
    public void CipherSuites_UnknownNameOrKeyword_IsAnErrorNamingIt(string value, string expected)
    {
        var ex = Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { CipherSuites = value }));

        Assert.Contains(ex.Failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ClientCertificateRotated_WhileRequestsLoop_ZeroFailures_ServerSeesTheNewCertificate()
    {
        await using var server = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = _pki.Leaf,
            Chain = [_pki.Intermediate],
            ClientCertificates = ClientCertificateMode.RequireCertificate,
        });
        var certFile = Path.Combine(_pki.Directory, "agent.crt");
        var keyFile = Path.Combine(_pki.Directory, "agent.key");
        void Write(string name)
        {
            var c = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = name, Usages = [TestCertificates.ClientAuth], Dns = [], Ips = [] });
            File.WriteAllText(keyFile + ".tmp", TestCertificates.KeyPem(c));
            File.WriteAllText(certFile + ".tmp", TestCertificates.Pem(c));
            File.Move(keyFile + ".tmp", keyFile, overwrite: true);
            File.Move(certFile + ".tmp", certFile, overwrite: true);
        }

        Write("agent-v1");
        using var logs = new FakeLoggerFactory();
        using var metrics = new MeterCapture("Determined.Security");
        using var client = Clients.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile, ClientCertificateFile = certFile, ClientKeyFile = keyFile, ReloadCheckInterval = TimeSpan.FromMilliseconds(50) }, server.Uri, logs);
        var failures = 0;
        var requests = 0;
        var seenV2 = false;
        for (var i = 0; i < 400 && !(seenV2 && requests > 40); i++)
        {
            if (i == 20)
            {
                Write("agent-v2");
            }

            if (i == 30)
            {
                File.WriteAllText(keyFile, "broken key"); // a broken replacement is refused; the last good pair stays
            }

            try
            {
                await client.GetStringAsync("/info");
                requests++;
                seenV2 |= server.LastClientCertificateSubject == "CN=agent-v2";
            }
            catch (HttpRequestException)
            {
                failures++;
            }

            await Task.Delay(10);
        }

        Assert.Equal(0, failures);
        Assert.True(seenV2, "the server never saw the new client certificate");
        Assert.Equal("CN=agent-v2", server.LastClientCertificateSubject);
        Assert.Contains(logs.Records, r => r.Id.Name == "TrustMaterialReloaded");
        Assert.Contains(logs.Records, r => r.Id.Name == "TrustMaterialReloadRefused" && r.Message.Contains(keyFile, StringComparison.Ordinal));
        Assert.True(metrics.Sum("determined.security.reloads", "result", "loaded") >= 1);
    }
}
