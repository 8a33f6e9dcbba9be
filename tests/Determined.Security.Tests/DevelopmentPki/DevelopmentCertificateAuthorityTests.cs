using System.Net;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests.DevelopmentPki;

[Trait("Wine", Wine.ProductMakesKeys)]
public sealed class DevelopmentCertificateAuthorityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-pki-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WriteDevelopmentPki_WritesFilesWithPrivateKeysMode0600_AndOpenSslVerifiesTheChain()
    {
        var files = DevelopmentCertificateAuthority.WriteDevelopmentPki(_dir, ["determined-master"], [IPAddress.Loopback], ["agent-1"]);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(files.MasterKeyFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(files.ClientFiles["agent-1"].KeyFile));
        Assert.True(File.GetUnixFileMode(files.CaCertificateFile).HasFlag(UnixFileMode.OtherRead));
        var masterPem = File.ReadAllText(files.MasterCertificateFile);
        Assert.Equal(2, masterPem.Split("BEGIN CERTIFICATE").Length - 1); // leaf + intermediate
        Assert.DoesNotContain("PRIVATE KEY", masterPem, StringComparison.Ordinal);

        // openssl: the leaf chains to the root through the intermediate in the same file.
        var output = TestCertificates.Run(_dir, "verify", "-CAfile", files.CaCertificateFile, "-untrusted", files.MasterCertificateFile, "-purpose", "sslserver", "-verify_hostname", "determined-master", files.MasterCertificateFile);
        Assert.Contains(": OK", output, StringComparison.Ordinal);
        var client = TestCertificates.Run(_dir, "verify", "-CAfile", files.CaCertificateFile, "-untrusted", files.ClientFiles["agent-1"].CertificateFile, "-purpose", "sslclient", files.ClientFiles["agent-1"].CertificateFile);
        Assert.Contains(": OK", client, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IssuedServerCertificate_ServedByKestrel_IsTrustedWithTheRootPinned()
    {
        using var ca = DevelopmentCertificateAuthority.Create(withIntermediate: true);
        using var server = ca.IssueServerCertificate(["determined-master"], [IPAddress.Loopback]);
        await using var kestrel = await TlsTestServer.StartAsync(server.Certificate, [.. server.Intermediates]);
        var rootFile = Path.Combine(_dir, "root.crt");
        ca.WriteRootCertificate(rootFile);

        var body = await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = rootFile, TrustMode = MasterTrustMode.PinnedOnly }, kestrel.Uri);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, server.Certificate.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
    }

    [Fact]
    public void IssueServerCertificate_WithoutNames_Throws()
    {
        using var ca = DevelopmentCertificateAuthority.Create();

        Assert.Throws<ArgumentException>(() => ca.IssueServerCertificate([]));
    }
}
