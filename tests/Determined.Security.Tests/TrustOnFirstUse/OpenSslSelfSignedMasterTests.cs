using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Determined.Testing;

namespace Determined.Security.Tests.TrustOnFirstUse;

/// <summary>
/// The most common self-signed master, made by the usual one-liner
/// <c>openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost</c>:
/// OpenSSL 3 marks it <c>basicConstraints=critical,CA:TRUE</c>. Determined's Python CLI trusts it on first use and Go's agent
/// accepts it pinned, so every trust path of this SDK must too: the prompt, an expected fingerprint or SPKI pin, the fix a
/// refusal suggests, and a key change after trust (refused as a changed certificate showing both fingerprints).
/// Served by real Kestrel on 127.0.0.1; certificates made by the openssl CLI at test time.
/// </summary>
[Trait("Wine", Wine.RunsLinuxProgram)]
public sealed class OpenSslSelfSignedMasterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-selfsigned-").FullName;
    private readonly FakeLoggerFactory _logs = new();

    public void Dispose()
    {
        _logs.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string ConfigDirectory => Path.Combine(_dir, "config");

    /// <summary>The one-liner, run for real; the certificate is checked to be what OpenSSL 3 makes by default (CA:TRUE).</summary>
    private X509Certificate2 OpenSslReqX509(string name, string extra = "")
    {
        var cert = Path.Combine(_dir, name + ".pem");
        var key = Path.Combine(_dir, name + ".key");
        string[] args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "5", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"];
        TestCertificates.Run(_dir, [.. args, .. extra.Length > 0 ? new[] { "-addext", extra } : []]);
        var certificate = X509Certificate2.CreateFromPemFile(cert, key);
        return certificate;
    }

    private static void AssertDefaultCaTrue(X509Certificate2 certificate)
    {
        var basic = Assert.Single(certificate.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.True(basic.CertificateAuthority, "OpenSSL 3's 'req -x509' marks the certificate CA:TRUE by default");
        Assert.True(basic.Critical);
    }

    private Determined.Security.TrustOnFirstUse NewTofu(Func<CertificateTrustRequest, bool>? prompt = null, CertificatePin? expected = null) =>
        new(new MasterCertificateStore(ConfigDirectory, _logs.CreateLogger<MasterCertificateStore>()), _logs.CreateLogger<Determined.Security.TrustOnFirstUse>())
        {
            ExpectedPin = expected,
            Prompt = prompt is null ? null : (request, _) => ValueTask.FromResult(prompt(request)),
        };

    private static Task<string> GetInfoAsync(Determined.Security.TrustOnFirstUse tofu, Uri uri) =>
        tofu.ExecuteAsync(uri, TlsPolicy.Default, async (policy, ct) =>
        {
            using var client = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(policy)).CreateHandler(uri));
            return await client.GetStringAsync(new Uri(uri, "/info"), ct);
        });

    [Fact]
    public async Task CaTrueSelfSignedMaster_NotTrusted_IsAnUntrustedRootNotACaAsServer()
    {
        var master = OpenSslReqX509("master");
        AssertDefaultCaTrue(master);
        await using var server = await TlsTestServer.StartAsync(master);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions(), server.Uri, adjust: p => p.SystemRootsOverride = []));

        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
        Assert.Equal([MasterConnectionError.UntrustedRoot], ex.Errors);
    }

    [Fact]
    public async Task CaTrueSelfSignedMaster_PromptAnsweredYes_IsStoredAndTrustedWithoutPromptNextTime()
    {
        var master = OpenSslReqX509("master");
        AssertDefaultCaTrue(master);
        await using var server = await TlsTestServer.StartAsync(master);
        var prompts = 0;

        var body = await GetInfoAsync(NewTofu(_ => ++prompts > 0), server.Uri);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
        Assert.Equal(1, prompts);
        Assert.Equal(master.ExportCertificatePem() + "\n", new MasterCertificateStore(ConfigDirectory).Get(server.Uri.ToString()));
        Assert.Contains("0.0.0-test", await GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("no prompt expected")), server.Uri), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sha256")]
    [InlineData("spki")]
    public async Task CaTrueSelfSignedMaster_ExpectedFingerprintOrSpkiPin_IsTrustedWithoutPrompt(string kind)
    {
        var master = OpenSslReqX509("master");
        await using var server = await TlsTestServer.StartAsync(master);
        var pin = CertificatePin.Parse(kind == "sha256" ? CertificatePin.Sha256Fingerprint(master) : CertificatePin.SpkiPin(master));

        Assert.Contains("0.0.0-test", await GetInfoAsync(NewTofu(expected: pin), server.Uri), StringComparison.Ordinal);
        Assert.Contains(_logs.Records, r => r.Id.Name == "CertificateTrusted");
    }

    [Fact]
    public async Task CaTrueSelfSignedMaster_RefusalWithoutTerminal_ItsSuggestedTrustCommandThenSucceeds()
    {
        var master = OpenSslReqX509("master");
        await using var server = await TlsTestServer.StartAsync(master);
        var refused = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(), server.Uri));
        Assert.Equal(MasterConnectionError.NotTrusted, refused.Error);

        // The fix names 'det tls trust -m <url> --fingerprint <fp>': exactly what that command does (TrustAsync with the pin).
        var fingerprint = System.Text.RegularExpressions.Regex.Match(refused.SuggestedFix!, "--fingerprint ([0-9a-f:]+)").Groups[1].Value;
        Assert.Equal(CertificatePin.Sha256Fingerprint(master), fingerprint);
        var trusted = await NewTofu(expected: CertificatePin.Parse(fingerprint)).TrustAsync(server.Uri);

        Assert.Equal(fingerprint, trusted.Sha256Fingerprint);
        Assert.Contains("0.0.0-test", await GetInfoAsync(NewTofu(), server.Uri), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CaTrueSelfSignedMaster_ReplacedByOneWithANewKey_IsRefusedAsChangedShowingBothFingerprints()
    {
        var old = OpenSslReqX509("old");
        var renewed = OpenSslReqX509("new");
        await using var server = await TlsTestServer.StartAsync(old);
        await GetInfoAsync(NewTofu(_ => true), server.Uri);
        server.SetCertificate(renewed);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("a changed key is never re-prompted")), server.Uri));

        Assert.Equal(MasterConnectionError.CertificateChanged, ex.Error);
        Assert.Contains(CertificatePin.Sha256Fingerprint(old), ex.Message, StringComparison.Ordinal);
        Assert.Contains(CertificatePin.Sha256Fingerprint(renewed), ex.Message, StringComparison.Ordinal);
        Assert.Equal(old.ExportCertificatePem() + "\n", new MasterCertificateStore(ConfigDirectory).Get(server.Uri.ToString()));

        // Its fix ('det tls trust --fingerprint <new>') then succeeds.
        await NewTofu(expected: CertificatePin.Parse(CertificatePin.Sha256Fingerprint(renewed))).TrustAsync(server.Uri);
        Assert.Contains("0.0.0-test", await GetInfoAsync(NewTofu(), server.Uri), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpiredSelfSignedMaster_IsNeverOfferedOrStored_TheRefusalNamesTheExpiry()
    {
        // A chain the retried request would refuse anyway is refused before the prompt, with its real defect.
        var now = DateTimeOffset.UtcNow;
        var expired = TestCertificates.CreateLeaf(null, new() { NotBefore = now.AddDays(-10), NotAfter = now.AddDays(-1) });
        await using var server = await TlsTestServer.StartAsync(expired);
        var prompts = 0;

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => NewTofu(_ => ++prompts > 0).TrustAsync(server.Uri));

        Assert.Equal(MasterConnectionError.Expired, ex.Error);
        Assert.Equal(0, prompts);
        Assert.Empty(new MasterCertificateStore(ConfigDirectory).List());
    }
}
