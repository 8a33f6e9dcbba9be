using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;
using Microsoft.Extensions.Logging;

namespace Determined.Security.Tests.TrustOnFirstUse;

/// <summary>The whole trust-on-first-use flow against real Kestrel on 127.0.0.1.</summary>
public sealed class TrustOnFirstUseTests : IDisposable
{
    private readonly TestPki _pki = new();
    private readonly FakeLoggerFactory _logs = new();

    public void Dispose()
    {
        _logs.Dispose();
        _pki.Dispose();
    }

    private Determined.Security.TrustOnFirstUse NewTofu(Func<CertificateTrustRequest, bool>? prompt = null, CertificatePin? expected = null, List<CertificateTrustRequest>? seen = null) =>
        new(new MasterCertificateStore(Path.Combine(_pki.Directory, "config"), _logs.CreateLogger<MasterCertificateStore>()), _logs.CreateLogger<Determined.Security.TrustOnFirstUse>())
        {
            ExpectedPin = expected,
            Prompt = prompt is null ? null : (request, _) =>
            {
                seen?.Add(request);
                return ValueTask.FromResult(prompt(request));
            },
        };

    private static Task<string> GetInfoAsync(Determined.Security.TrustOnFirstUse tofu, Uri uri, TlsOptions? options = null) =>
        tofu.ExecuteAsync(uri, TlsPolicy.Create(options ?? new TlsOptions()), async (policy, ct) =>
        {
            using var client = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(policy)).CreateHandler(uri));
            return await client.GetStringAsync(new Uri(uri, "/info"), ct);
        });

    [Fact]
    public async Task FirstContact_PromptSeesOpenSslFingerprint_StoresChain_SecondContactNeedsNoPrompt()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var seen = new List<CertificateTrustRequest>();

        var body = await GetInfoAsync(NewTofu(_ => true, seen: seen), server.Uri);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
        var request = Assert.Single(seen);
        var leafFile = _pki.Write("served-leaf.pem", TestCertificates.Pem(_pki.Leaf));
        var openssl = TestCertificates.Run(_pki.Directory, "x509", "-in", leafFile, "-noout", "-fingerprint", "-sha256").Trim().Split('=')[1];
        Assert.Equal(openssl.ToLowerInvariant(), request.Sha256Fingerprint);
        Assert.Equal($"{CertificateTrustRequest.PromptHeader}\n{request.Sha256Fingerprint}\n{CertificateTrustRequest.PromptQuestion}", request.PromptText);
        Assert.Equal(2, request.Chain.Count);
        var stored = new MasterCertificateStore(Path.Combine(_pki.Directory, "config")).Get(server.Uri.ToString());
        Assert.StartsWith(_pki.Leaf.ExportCertificatePem(), stored, StringComparison.Ordinal);

        var second = new List<CertificateTrustRequest>();
        Assert.Contains("0.0.0-test", await GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("no prompt expected"), seen: second), server.Uri), StringComparison.Ordinal);
        Assert.Empty(second);
    }

    [Fact]
    public async Task FirstContact_PromptAnsweredNo_ThrowsNotTrustedWithUpstreamMessage()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(_ => false), server.Uri));

        Assert.Equal(MasterConnectionError.NotTrusted, ex.Error);
        Assert.StartsWith("Unable to verify master certificate", ex.Message, StringComparison.Ordinal);
        Assert.Empty(new MasterCertificateStore(Path.Combine(_pki.Directory, "config")).List());
    }

    [Fact]
    public async Task FirstContact_NoPromptNoPin_FailsWithFingerprintAndCommand()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(), server.Uri));

        Assert.Equal(MasterConnectionError.NotTrusted, ex.Error);
        var fingerprint = CertificatePin.Sha256Fingerprint(_pki.Leaf);
        Assert.Contains(fingerprint, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"det tls trust -m https://127.0.0.1:{server.Port} --fingerprint {fingerprint}", ex.SuggestedFix, StringComparison.Ordinal);
        Assert.Contains("DETERMINED_TRUST_FINGERPRINT", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpectedFingerprint_Matching_TrustsWithoutPrompt_Mismatching_IsRefusedShowingBoth()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var wrong = CertificatePin.FromCertificate(_pki.Root);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(expected: wrong), server.Uri));
        Assert.Equal(MasterConnectionError.PinMismatch, ex.Error);
        Assert.Contains(wrong.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Contains(CertificatePin.Sha256Fingerprint(_pki.Leaf), ex.Message, StringComparison.Ordinal);

        var right = CertificatePin.Parse(CertificatePin.Sha256FingerprintOpenSsl(_pki.Leaf).Replace(":", "", StringComparison.Ordinal));
        Assert.Contains("0.0.0-test", await GetInfoAsync(NewTofu(expected: right), server.Uri), StringComparison.Ordinal);
        Assert.Contains(_logs.Records, r => r.Id.Name == "CertificateTrusted");
    }

    [Fact]
    public async Task ExpectedSpkiPin_FromEnvironmentVariable_Trusts()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var pin = Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment(name => name == "DETERMINED_TRUST_FINGERPRINT" ? CertificatePin.SpkiPin(_pki.Leaf) : null);

        Assert.Contains("0.0.0-test", await GetInfoAsync(NewTofu(expected: pin), server.Uri), StringComparison.Ordinal);
        Assert.Throws<DeterminedConfigurationException>(() => Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment(_ => "nonsense"));
    }

    [Fact]
    public async Task Rotation_NewLeafFromTheSameCa_IsAcceptedSilently()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        await GetInfoAsync(NewTofu(_ => true), server.Uri);
        var renewed = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = "renewed" });
        server.SetCertificate(renewed, _pki.Intermediate);

        var body = await GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("no prompt on rotation")), server.Uri);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rotation_SelfSignedRenewedWithSameKey_IsAcceptedAndStoreUpdated()
    {
        using var key = TestKeys.EcP256();
        var first = SelfSigned(key, "master-v1");
        await using var server = await TlsTestServer.StartAsync(first);
        await GetInfoAsync(NewTofu(_ => true), server.Uri);
        var second = SelfSigned(key, "master-v2");
        server.SetCertificate(second);

        var body = await GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("no prompt on same-key renewal")), server.Uri);

        Assert.Contains("0.0.0-test", body, StringComparison.Ordinal);
        var stored = new MasterCertificateStore(Path.Combine(_pki.Directory, "config")).Get(server.Uri.ToString());
        Assert.StartsWith(second.ExportCertificatePem(), stored, StringComparison.Ordinal);
        var info = Assert.Single(_logs.Records, r => r.Id.Name == "CertificateRenewedSameKey");
        Assert.Equal(LogLevel.Information, info.Level);
    }

    [Fact]
    public async Task Rotation_NewKey_IsRefusedLoudlyWithBothFingerprintsAndDates_NeverPrompted()
    {
        var first = TestCertificates.CreateLeaf(null, new() { CommonName = "master-old" });
        await using var server = await TlsTestServer.StartAsync(first);
        await GetInfoAsync(NewTofu(_ => true), server.Uri);
        var attacker = TestCertificates.CreateLeaf(null, new() { CommonName = "master-new" });
        server.SetCertificate(attacker);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("must not prompt")), server.Uri));

        Assert.Equal(MasterConnectionError.CertificateChanged, ex.Error);
        Assert.Contains(CertificatePin.Sha256Fingerprint(first), ex.Message, StringComparison.Ordinal);
        Assert.Contains(CertificatePin.Sha256Fingerprint(attacker), ex.Message, StringComparison.Ordinal);
        Assert.Contains(Messages.Date(new DateTimeOffset(first.NotAfter.ToUniversalTime())), ex.Message, StringComparison.Ordinal);
        Assert.Contains($"--fingerprint {CertificatePin.Sha256Fingerprint(attacker)}", ex.SuggestedFix, StringComparison.Ordinal);
        Assert.Contains(_logs.Records, r => r.Id.Name == "CertificateChanged" && r.Level == LogLevel.Error);

        // Accepting it after an out-of-band check: the expected fingerprint replaces the entry.
        var accepted = NewTofu(expected: CertificatePin.FromCertificate(attacker));
        Assert.Contains("0.0.0-test", await GetInfoAsync(accepted, server.Uri), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpectedPin_MatchingOnlyAnExtraCertificateTheServerAppended_IsRefused_NothingStored()
    {
        // An attacker presents its own self-signed leaf followed by the real master's (public) certificate.
        var attacker = TestCertificates.CreateLeaf(null, new() { CommonName = "attacker" });
        using var server = await OpenSslServer.StartAsync(attacker, _pki.Leaf);
        var realPin = CertificatePin.FromCertificate(_pki.Leaf);

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(expected: realPin), server.Uri));

        Assert.Equal(MasterConnectionError.PinMismatch, ex.Error);
        Assert.Empty(new MasterCertificateStore(Path.Combine(_pki.Directory, "config")).List());
    }

    [Fact]
    public async Task AcceptedChain_StoresOnlyCertificatesLinkedToTheLeaf_NotUnrelatedExtras()
    {
        var unrelated = TestCertificates.CreateRoot("Unrelated CA");
        using var server = await OpenSslServer.StartAsync(_pki.Leaf, _pki.Intermediate, unrelated);

        var page = await GetInfoAsync(NewTofu(_ => true), server.Uri); // s_server -www answers with its status page
        Assert.Contains("<HTML>", page, StringComparison.Ordinal);

        var stored = new MasterCertificateStore(Path.Combine(_pki.Directory, "config")).Get(server.Uri.ToString());
        Assert.NotNull(stored);
        var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        certificates.ImportFromPem(stored);
        Assert.Equal([_pki.Leaf.Thumbprint, _pki.Intermediate.Thumbprint], certificates.Select(c => c.Thumbprint));
    }

    [Fact]
    public async Task ExplicitPinnedFile_DisablesTrustOnFirstUse()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var unrelated = _pki.Write("other.pem", TestCertificates.Pem(TestCertificates.CreateRoot("Other")));

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(_ => true), server.Uri, new TlsOptions { MasterCertificateFile = unrelated }));

        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
    }

    [Fact]
    public async Task Probe_ReportsChainProtocolAndCipher_AndPlaintextPorts()
    {
        await using var tls = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        await using var plain = await TlsTestServer.StartAsync(certificate: null);

        var result = await MasterProbe.ProbeAsync(tls.Uri);
        var plainResult = await MasterProbe.ProbeAsync(new Uri($"https://127.0.0.1:{plain.Port}"));

        Assert.True(result.SpeaksTls);
        Assert.Equal(2, result.PresentedChain.Count);
        Assert.Equal(_pki.Leaf.Thumbprint, result.PresentedChain[0].Thumbprint);
        Assert.NotNull(result.CipherSuite);
        Assert.False(plainResult.SpeaksTls);
        Assert.True(plainResult.SpeaksPlainHttp);
        Assert.NotNull(plainResult.ErrorText);
    }

    [Fact]
    public async Task Renewal_SameKeyWithAnUnrelatedCaAppended_StoresOnlyTheLeaf_AndThatCaNeverBecomesTrusted()
    {
        using var key = TestKeys.EcP256();
        var first = SelfSigned(key, "master-v1");
        await using (var original = await TlsTestServer.StartAsync(first))
        {
            await GetInfoAsync(NewTofu(_ => true), original.Uri);
            MoveEntry(original.Uri, "https://127.0.0.1:1");
        }

        // The same key, renewed, but the server (or someone on the path) appends an unrelated CA.
        var attackerCa = TestCertificates.CreateRoot("Attacker CA");
        using var renewed = await OpenSslServer.StartAsync(SelfSigned(key, "master-v2"), attackerCa);
        MoveEntry(new Uri("https://127.0.0.1:1"), renewed.Uri.ToString());
        await GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("no prompt on same-key renewal")), renewed.Uri);

        var stored = StoredThumbprints(renewed.Uri);
        Assert.DoesNotContain(attackerCa.Thumbprint, stored);
        Assert.Single(stored);

        // A new key issued by that CA is a changed certificate, never trusted through the appended CA.
        var forged = TestCertificates.CreateLeaf(attackerCa);
        using var impostor = await OpenSslServer.StartAsync(forged, attackerCa);
        MoveEntry(renewed.Uri, impostor.Uri.ToString());
        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(NewTofu(_ => throw new InvalidOperationException("must not prompt")), impostor.Uri));
        Assert.Equal(MasterConnectionError.CertificateChanged, ex.Error);
    }

    [Fact]
    public async Task ExpectedPin_WithAnUnrelatedCaAppended_StoresOnlyTheChainLinkedToTheLeaf()
    {
        var unrelated = TestCertificates.CreateRoot("Unrelated CA");
        using var server = await OpenSslServer.StartAsync(_pki.Leaf, _pki.Intermediate, unrelated);

        await GetInfoAsync(NewTofu(expected: CertificatePin.FromCertificate(_pki.Leaf)), server.Uri);

        // A fingerprint of the leaf stores the chain linked to it, as the prompt does (a leaf alone is useless to Python).
        Assert.Equal([_pki.Leaf.Thumbprint, _pki.Intermediate.Thumbprint], StoredThumbprints(server.Uri));
    }

    [Fact]
    public async Task ExpectedPin_ServerSendsTheRoot_StoresTheWholeLinkedChainUpToTheRoot()
    {
        using var server = await OpenSslServer.StartAsync(_pki.Leaf, _pki.Intermediate, _pki.Root);

        await GetInfoAsync(NewTofu(expected: CertificatePin.FromCertificate(_pki.Leaf)), server.Uri);

        Assert.Equal([_pki.Leaf.Thumbprint, _pki.Intermediate.Thumbprint, _pki.Root.Thumbprint], StoredThumbprints(server.Uri));
    }

    [Fact]
    public async Task ExpectedPinOnTheIntermediate_WithAnUnrelatedCaAppended_StoresLeafAndIntermediateOnly()
    {
        var unrelated = TestCertificates.CreateRoot("Unrelated CA");
        using var server = await OpenSslServer.StartAsync(_pki.Leaf, unrelated, _pki.Intermediate);

        await GetInfoAsync(NewTofu(expected: CertificatePin.FromCertificate(_pki.Intermediate)), server.Uri);

        Assert.Equal([_pki.Leaf.Thumbprint, _pki.Intermediate.Thumbprint], StoredThumbprints(server.Uri));
    }

    [Fact]
    public async Task TrustCommand_WithAnUnrelatedCaAppended_StoresOnlyTheChainLinkedToTheLeaf()
    {
        var unrelated = TestCertificates.CreateRoot("Unrelated CA");
        using var server = await OpenSslServer.StartAsync(_pki.Leaf, unrelated, _pki.Intermediate);

        var trusted = await NewTofu(_ => true).TrustAsync(server.Uri);

        Assert.Equal(CertificatePin.Sha256Fingerprint(_pki.Leaf), trusted.Sha256Fingerprint);
        Assert.Equal([_pki.Leaf.Thumbprint, _pki.Intermediate.Thumbprint], StoredThumbprints(server.Uri));
    }

    private List<string> StoredThumbprints(Uri uri)
    {
        var stored = new MasterCertificateStore(Path.Combine(_pki.Directory, "config")).Get(uri.ToString());
        Assert.NotNull(stored);
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPem(stored);
        return certificates.Select(c => c.Thumbprint).ToList();
    }

    /// <summary>Moves the stored entry to another URL (a new server on another port plays the same master).</summary>
    private void MoveEntry(Uri from, string to)
    {
        var store = new MasterCertificateStore(Path.Combine(_pki.Directory, "config"));
        var pem = store.Get(from.ToString());
        Assert.NotNull(pem);
        store.Set(to, pem);
        store.Remove(from.ToString());
    }

    private static X509Certificate2 SelfSigned(ECDsa key, string name)
    {
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(TestCertificates.ServerAuth)], false));
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(10));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }
}
