using System.Net;
using Determined.Testing;

namespace Determined.Security.Tests.Conventions;

/// <summary>The members of the public surface that other tests reach only indirectly (or in child processes): each one once, for real.</summary>
public sealed class PublicSurfaceTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

#pragma warning disable RS0030 // The process-environment entry points are compared with the same rule read through the process's own reader.
    private static string? Process(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
#pragma warning restore RS0030

    [Fact]
    public void ProcessEnvironmentEntryPoints_AgreeWithTheRuleTheyWrap()
    {
        Assert.Equal(DeterminedConfigDirectory.GetPath(Process), DeterminedConfigDirectory.GetPath());
        var store = MasterCertificateStore.OpenDefault();
        Assert.Equal(Path.Combine(DeterminedConfigDirectory.GetPath(), MasterCertificateStore.FileName), store.FilePath);
        Assert.Equal("DETERMINED_TRUST_FINGERPRINT", Determined.Security.TrustOnFirstUse.ExpectedFingerprintVariable);
        Assert.Equal(Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment(Process), Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment());
    }

    [Fact]
    public void BlankNameOverride_IsAnErrorNamingTheSetting()
    {
        var failure = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateName = "   " })).Failures);

        Assert.Contains("is blank", failure, StringComparison.Ordinal);
        Assert.Contains("DET_MASTER_CERT_NAME", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void CertificatePin_IsAValue_ByKindAndHash()
    {
        var a = CertificatePin.FromCertificate(_pki.Leaf);
        var b = CertificatePin.Parse(CertificatePin.Sha256Fingerprint(_pki.Leaf));
        var spki = CertificatePin.FromCertificate(_pki.Leaf, CertificatePinKind.PublicKeySha256);

        Assert.True(a.Equals(b));
        Assert.True(a.Equals((object)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.False(a.Equals(spki));
        Assert.False(a.Equals((object?)null));
        Assert.Equal(32, a.Hash.Length);
        Assert.Equal(Convert.FromHexString(CertificatePin.Sha256Fingerprint(_pki.Leaf).Replace(":", string.Empty, StringComparison.Ordinal)), a.Hash.ToArray());
    }

    [Fact]
    public void Exceptions_HaveTheBclConstructors_AndOneHierarchy()
    {
        var plain = new DeterminedException();
        Assert.False(plain.IsTransient);
        Assert.Equal("x", new DeterminedException("x", new IOException()).Message);
        var configuration = new DeterminedConfigurationException();
        Assert.Single(configuration.Failures);
        Assert.Equal(["a", "b"], new DeterminedConfigurationException(["a", "b"]).Failures);
        Assert.Equal(["c"], new DeterminedConfigurationException("c", new IOException()).Failures);
        var connection = new MasterConnectionException();
        Assert.IsAssignableFrom<DeterminedException>(connection);
        Assert.Equal(MasterConnectionError.InvalidChain, connection.Error);
        Assert.Empty(connection.PresentedChain);
    }

    [Fact]
    public void TrustDecision_ToString_SaysAnchorsNameAndReason()
    {
        var decision = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile, MasterCertificateName = "m.example" })).Resolve(new Uri("https://10.0.0.1:8443"));

        Assert.Equal($"https://10.0.0.1:8443/: SystemRootsAndPinned, name 'm.example' ({decision.Reason})", decision.ToString());
    }

    [Fact]
    public async Task MasterProbeResult_ExportChainPem_IsThePresentedChain()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);

        var probe = await MasterProbe.ProbeAsync(server.Uri);

        var pem = probe.ExportChainPem();
        var parsed = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        parsed.ImportFromPem(pem);
        Assert.Equal([_pki.Leaf.Thumbprint, _pki.Intermediate.Thumbprint], parsed.Select(c => c.Thumbprint));
        Assert.Equal(IPAddress.Loopback.ToString(), probe.TargetHost);
    }
}
