using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Determined.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Determined.Security.Tests.Http;

public sealed class ClientIdentityAndTransportTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task ClientCertificate_SeparatePemFiles_IsPresentedToServerRequiringIt()
    {
        var client = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = "agent-1", Usages = [TestCertificates.ClientAuth], Dns = [], Ips = [] });
        var certFile = _pki.Write("agent.crt", TestCertificates.Pem(client, _pki.Intermediate));
        var keyFile = _pki.Write("agent.key", TestCertificates.KeyPem(client));
        await using var server = await StartMutualServerAsync();

        await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, ClientCertificateFile = certFile, ClientKeyFile = keyFile }, server.Uri);

        Assert.Equal("CN=agent-1", server.LastClientCertificateSubject);
    }

    [Fact]
    public async Task ClientCertificate_CombinedFileWithKey_Works()
    {
        var client = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = "agent-2", Usages = [TestCertificates.ClientAuth], Dns = [], Ips = [] });
        var combined = _pki.Write("agent.pem", TestCertificates.KeyPem(client) + TestCertificates.Pem(_pki.Intermediate, client));
        await using var server = await StartMutualServerAsync();

        await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile, ClientCertificateFile = combined }, server.Uri);

        Assert.Equal("CN=agent-2", server.LastClientCertificateSubject);
    }

    [Fact]
    public void ClientCertificate_KeyOfAnotherCertificate_IsAClearError()
    {
        var client = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = "agent-3" });
        var other = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = "other" });
        var certFile = _pki.Write("c.crt", TestCertificates.Pem(client));
        var keyFile = _pki.Write("o.key", TestCertificates.KeyPem(other));

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = certFile, ClientKeyFile = keyFile })).Failures);

        Assert.Contains("does not belong to the certificate", message, StringComparison.Ordinal);
        Assert.Contains(keyFile, message, StringComparison.Ordinal);
        Assert.Contains(certFile, message, StringComparison.Ordinal);
    }

    [Fact]
    public void ClientCertificate_WithoutKey_IsAClearError()
    {
        var certFile = _pki.Write("c.crt", TestCertificates.Pem(_pki.Leaf));

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = certFile })).Failures);

        Assert.Contains("has no private key", message, StringComparison.Ordinal);
        Assert.Contains("security.tls.client_key", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RawSslStream_WithResolverOptions_VerifiesNameOverrideAndTrust()
    {
        var leaf = TestCertificates.CreateLeaf(_pki.Intermediate, new() { Dns = ["determined-master-ci"], Ips = [] });
        await using var server = await TlsTestServer.StartAsync(leaf, _pki.Intermediate);
        var uri = new Uri($"https://127.0.0.1:{server.Port}");
        var good = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile, MasterCertificateName = "determined-master-ci" }));
        var noName = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile }));

        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
            await using var ssl = new SslStream(tcp.GetStream());
            await ssl.AuthenticateAsClientAsync(good.CreateSslClientAuthenticationOptions(uri));
            Assert.Equal("determined-master-ci", ssl.TargetHostName);
            Assert.True(ssl.IsAuthenticated);
        }

        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
            await using var ssl = new SslStream(tcp.GetStream());
            var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => ssl.AuthenticateAsClientAsync(noName.CreateSslClientAuthenticationOptions(uri)));
            Assert.Equal(MasterConnectionError.NameMismatch, ex.Error);
        }
    }

    [Fact]
    public async Task WebSocket_ThroughFactoryHandler_ConnectsWithPinnedTrustAndNameOverride()
    {
        var leaf = TestCertificates.CreateLeaf(_pki.Intermediate, new() { Dns = ["determined-master-ci"], Ips = [] });
        await using var server = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = leaf,
            Chain = [_pki.Intermediate],
            Map = app =>
            {
                app.UseWebSockets();
                app.Map("/agents", async (HttpContext context) =>
                {
                    using var ws = await context.WebSockets.AcceptWebSocketAsync();
                    await ws.SendAsync(Encoding.UTF8.GetBytes("{\"MasterSetAgentOptions\":{}}"), WebSocketMessageType.Text, true, CancellationToken.None);
                    await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                });
            },
        });
        var master = new Uri($"https://127.0.0.1:{server.Port}");
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions
        {
            MasterCertificateFile = _pki.RootFile,
            TrustMode = MasterTrustMode.PinnedOnly,
            MasterCertificateName = "determined-master-ci",
        })));
        using var invoker = new HttpMessageInvoker(factory.CreateHandler(master));
        using var socket = new ClientWebSocket();

        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{server.Port}/agents?id=a1"), invoker, CancellationToken.None);
        var buffer = new byte[1024];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None);

        Assert.Equal("{\"MasterSetAgentOptions\":{}}", Encoding.UTF8.GetString(buffer, 0, result.Count));
        Assert.Equal("determined-master-ci", server.LastSni);
    }

    [Fact]
    public async Task Handler_IsReusedAcrossRequests_OneConnection()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var handshakes = 0;
        using var client = Clients.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile }, server.Uri);
        server.LastSni = null;

        for (var i = 0; i < 20; i++)
        {
            await client.GetStringAsync("/info");
            if (server.LastSni is not null)
            {
                handshakes++;
                server.LastSni = null;
            }
        }

        Assert.Equal(1, handshakes);
    }

    private Task<TlsTestServer> StartMutualServerAsync() =>
        TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = _pki.Leaf,
            Chain = [_pki.Intermediate],
            ClientCertificates = ClientCertificateMode.RequireCertificate,
        });
}
