using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests.Http;

/// <summary>The documented extension points are what the handler pipeline really calls, also after a reload.</summary>
public sealed class ExtensionPointTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    /// <summary>Adds a check of its own to the base validation (an extra pin), and counts what it is asked for.</summary>
    private sealed class AuditingResolver(TlsPolicy policy, string? requiredLeafThumbprint) : CertificateTrustResolver(policy)
    {
        public int OptionsCreated;
        public int Validations;

        public override SslClientAuthenticationOptions CreateSslClientAuthenticationOptions(Uri masterUri)
        {
            Interlocked.Increment(ref OptionsCreated);
            var options = base.CreateSslClientAuthenticationOptions(masterUri);
            var inner = options.RemoteCertificateValidationCallback!;
            options.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
            {
                Interlocked.Increment(ref Validations);
                return inner(sender, certificate, chain, errors)
                    && (requiredLeafThumbprint is null || string.Equals(((X509Certificate2)certificate!).Thumbprint, requiredLeafThumbprint, StringComparison.OrdinalIgnoreCase));
            };
            return options;
        }
    }

    private sealed class ConfiguringFactory(CertificateTrustResolver resolver) : MasterHttpHandlerFactory(resolver)
    {
        public int Created;
        public int Configured;

        protected override SocketsHttpHandler CreateSocketsHttpHandler()
        {
            Interlocked.Increment(ref Created);
            return base.CreateSocketsHttpHandler();
        }

        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler)
        {
            Interlocked.Increment(ref Configured);
            Assert.NotNull(handler.SslOptions.RemoteCertificateValidationCallback); // trust is applied before the hook
            handler.MaxResponseHeadersLength = 16;
        }
    }

    private Task<TlsTestServer> ServerAsync() => TlsTestServer.StartAsync(new TlsTestServer.Options { Certificate = _pki.Leaf, Chain = [_pki.Intermediate] });

    [Fact]
    public async Task OverriddenSslOptions_AreUsedByEveryHandler_AndAnAddedCheckCanRefuse()
    {
        await using var server = await ServerAsync();
        var policy = TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile });

        var accepting = new AuditingResolver(policy, _pki.Leaf.Thumbprint);
        var factory = new ConfiguringFactory(accepting);
        using (var client = new HttpClient(factory.CreateHandler(server.Uri)) { BaseAddress = server.Uri })
        {
            Assert.Contains("0.0.0-test", await client.GetStringAsync("/info"), StringComparison.Ordinal);
        }

        Assert.Equal(1, accepting.OptionsCreated);
        Assert.True(accepting.Validations >= 1);
        Assert.Equal(1, factory.Created);
        Assert.Equal(1, factory.Configured);

        // The same trust with an extra pin that the master's leaf does not match: refused.
        var refusing = new AuditingResolver(policy, _pki.Intermediate.Thumbprint);
        using var refused = new HttpClient(new MasterHttpHandlerFactory(refusing).CreateHandler(server.Uri)) { BaseAddress = server.Uri };
        // A callback that answers false is a failed handshake, classified like every other connection failure.
        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => refused.GetStringAsync("/info"));
        Assert.Equal(MasterConnectionError.HandshakeFailed, ex.Error);
        Assert.True(refusing.Validations >= 1);
    }

    [Fact]
    public async Task AfterAReload_TheOverrideBuildsTheNewHandler_WithTheNewTrust()
    {
        await using var server = await ServerAsync();
        using var otherCa = TestCertificates.CreateRoot("Unrelated CA");
        var trustFile = _pki.Write("trust.pem", TestCertificates.Pem(otherCa));
        var resolver = new AuditingResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = trustFile, TrustMode = MasterTrustMode.PinnedOnly, ReloadCheckInterval = TimeSpan.FromMilliseconds(1) }), null);
        using var client = new HttpClient(new MasterHttpHandlerFactory(resolver).CreateHandler(server.Uri)) { BaseAddress = server.Uri };

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetStringAsync("/info"));
        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
        var before = resolver.Policy;

        // The pinned file now holds the master's root: the resolver reloads it and the handler is rebuilt through the override.
        File.WriteAllText(trustFile, TestCertificates.Pem(_pki.Root));
        File.SetLastWriteTimeUtc(trustFile, DateTime.UtcNow.AddSeconds(5));
        string? info = null;
        for (var i = 0; i < 100 && info is null; i++)
        {
            await Task.Delay(20);
            try
            {
                info = await client.GetStringAsync("/info");
            }
            catch (MasterConnectionException)
            {
            }
        }

        Assert.Contains("0.0.0-test", info, StringComparison.Ordinal);
        Assert.NotSame(before, resolver.Policy);
        Assert.Equal(_pki.Root.Thumbprint, Assert.Single(resolver.Policy.PinnedCertificates).Thumbprint);
        Assert.Equal(2, resolver.OptionsCreated);
    }
}
