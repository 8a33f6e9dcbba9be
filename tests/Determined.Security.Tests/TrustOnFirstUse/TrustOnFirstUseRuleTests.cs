using System.Security.Authentication;
using System.Text;
using System.Text.RegularExpressions;
using Determined.Testing;
using Microsoft.Extensions.Logging;

namespace Determined.Security.Tests.TrustOnFirstUse;

/// <summary>
/// The edges of trust on first use that the flow tests do not reach: argument checks, which failures may start it, what
/// each outcome counts and logs, a handshake that failed after the certificate was seen, a store changed during the prompt,
/// and the exact words of every refusal (compared with <c>Approved/trust-on-first-use.txt</c>). Real Kestrel on 127.0.0.1.
/// </summary>
[Collection(ProcessWideTelemetry.Name)]
public sealed partial class TrustOnFirstUseRuleTests : IDisposable
{
    private const string FirstUseCounter = "determined.security.trust_on_first_use";

    private readonly TestPki _pki = new();
    private readonly FakeLoggerFactory _logs = new();
    private readonly MeterCapture _meter = new(SecurityTelemetry.MeterName);

    public void Dispose()
    {
        _meter.Dispose();
        _logs.Dispose();
        _pki.Dispose();
    }

    private string ConfigDirectory => Path.Combine(_pki.Directory, "config");

    [Fact]
    public async Task NullArguments_AreRefusedByName()
    {
        var tofu = NewTofu();
        var uri = new Uri("https://master.example.com:8443");
        var policy = TlsPolicy.Create(new TlsOptions());
        Func<TlsPolicy, CancellationToken, Task<int>> operation = (_, _) => Task.FromResult(1);

        Assert.Equal("store", Assert.Throws<ArgumentNullException>(() => new Determined.Security.TrustOnFirstUse(null!)).ParamName);
        Assert.Equal("masterUri", Assert.Throws<ArgumentNullException>(() => tofu.ApplyStoredTrust(null!, policy)).ParamName);
        Assert.Equal("policy", Assert.Throws<ArgumentNullException>(() => tofu.ApplyStoredTrust(uri, null!)).ParamName);
        Assert.Equal("masterUri", (await Assert.ThrowsAsync<ArgumentNullException>(() => tofu.ExecuteAsync(null!, policy, operation))).ParamName);
        Assert.Equal("policy", (await Assert.ThrowsAsync<ArgumentNullException>(() => tofu.ExecuteAsync(uri, null!, operation))).ParamName);
        Assert.Equal("operation", (await Assert.ThrowsAsync<ArgumentNullException>(() => tofu.ExecuteAsync<int>(uri, policy, null!))).ParamName);
        Assert.Equal("masterUri", (await Assert.ThrowsAsync<ArgumentNullException>(() => tofu.TrustAsync(null!))).ParamName);

        // Checked in the order of the parameters: the first null one is named.
        Assert.Equal("masterUri", Assert.Throws<ArgumentNullException>(() => tofu.ApplyStoredTrust(null!, null!)).ParamName);
        Assert.Equal("masterUri", (await Assert.ThrowsAsync<ArgumentNullException>(() => tofu.ExecuteAsync<int>(null!, null!, null!))).ParamName);
        Assert.Equal("policy", (await Assert.ThrowsAsync<ArgumentNullException>(() => tofu.ExecuteAsync<int>(uri, null!, null!))).ParamName);
    }

    [Fact]
    public void ExpectedPinFromEnvironment_ReadsTheGivenVariables_AndNamesABadValue()
    {
        var pin = CertificatePin.Sha256Fingerprint(_pki.Leaf);

        Assert.Equal(pin, Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment(n => n == Determined.Security.TrustOnFirstUse.ExpectedFingerprintVariable ? pin : null)?.ToString());
        Assert.Null(Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment(_ => null));
        Assert.Null(Environment.GetEnvironmentVariable(Determined.Security.TrustOnFirstUse.ExpectedFingerprintVariable));
        Assert.Null(Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment());
        var ex = Assert.Throws<DeterminedConfigurationException>(() => Determined.Security.TrustOnFirstUse.ExpectedPinFromEnvironment(_ => "not-a-pin"));
        Assert.StartsWith(Determined.Security.TrustOnFirstUse.ExpectedFingerprintVariable + ": ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not-a-pin", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ApplyStoredTrust_PolicyThatPinsTrust_IsReturnedAsItIs_EvenWithAStoredEntry()
    {
        var tofu = NewTofu();
        var uri = new Uri("https://master.example.com:8443");
        tofu.Store.Set(uri.ToString(), TestCertificates.Pem(_pki.Leaf));
        var pinned = TlsPolicy.Create(new TlsOptions { MasterCertificatePem = TestCertificates.Pem(_pki.Root) });

        Assert.Same(pinned, tofu.ApplyStoredTrust(uri, pinned));
        Assert.NotSame(pinned, tofu.ApplyStoredTrust(uri, TlsPolicy.Create(new TlsOptions())));
    }

    [Fact]
    public void ApplyStoredTrust_LegacyMasterCrt_IsMigratedAndPinned()
    {
        Directory.CreateDirectory(ConfigDirectory);
        File.WriteAllText(Path.Combine(ConfigDirectory, MasterCertificateStore.LegacyFileName), TestCertificates.Pem(_pki.Root));
        var uri = new Uri("https://master.example.com:8443");

        var policy = NewTofu().ApplyStoredTrust(uri, TlsPolicy.Create(new TlsOptions()));

        Assert.Equal(MasterTrustMode.PinnedAdded, policy.TrustMode);
        Assert.Single(policy.PinnedCollection);
        Assert.Equal(_pki.Root.Thumbprint, policy.PinnedCollection[0].Thumbprint);
    }

    [Fact]
    public async Task ExecuteAsync_FailureOtherThanAnUntrustedCertificate_IsNotTurnedIntoAPrompt()
    {
        var otherName = TestCertificates.CreateLeaf(_pki.Intermediate, new TestCertificates.LeafSpec { Dns = ["other.example.com"], Ips = [] });
        await using var server = await TlsTestServer.StartAsync(otherName, _pki.Intermediate);
        var tofu = NewTofu(_ => throw new InvalidOperationException("no prompt expected"));

        // Untrusted and for another name: the name is the first defect, and a wrong name is never trusted on first use.
        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => GetInfoAsync(tofu, server.Uri, new TlsOptions()));

        Assert.Equal(MasterConnectionError.NameMismatch, ex.Error);
        Assert.Empty(tofu.Store.List());
    }

    [Fact]
    public async Task Outcomes_EachCountsAndLogsWhatHappened()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var url = server.Uri.ToString();

        // Rejected at the prompt, then trusted at the prompt.
        await Assert.ThrowsAsync<MasterConnectionException>(() => NewTofu(_ => false).TrustAsync(server.Uri));
        Assert.Equal(1, Events("rejected"));
        await NewTofu(_ => true).TrustAsync(server.Uri);
        Assert.Equal(1, Events("trusted"));
        Assert.Equal("accepted at the prompt", LastTrustedReason());

        // The same key again: renewed.
        await NewTofu().TrustAsync(server.Uri);
        Assert.Equal(1, Events("renewed"));

        // Another key: changed (refused), then replaced by the expected pin.
        var rotated = TestCertificates.CreateLeaf(_pki.Intermediate);
        server.SetCertificate(rotated, _pki.Intermediate);
        await Assert.ThrowsAsync<MasterConnectionException>(() => NewTofu().TrustAsync(server.Uri));
        Assert.Equal(1, Events("changed"));
        await NewTofu(expected: CertificatePin.Parse(CertificatePin.Sha256Fingerprint(rotated))).TrustAsync(server.Uri);
        Assert.Equal(1, Events("replaced"));
        var replaced = Assert.Single(_logs.Records, r => r.Id.Id == EventIds.CertificateReplacedByExpectedPin);
        Assert.Contains(CertificatePin.Sha256Fingerprint(rotated), replaced.Message, StringComparison.Ordinal);

        // A new master address trusted by its expected fingerprint.
        new MasterCertificateStore(ConfigDirectory).Remove(url);
        await NewTofu(expected: CertificatePin.Parse(CertificatePin.Sha256Fingerprint(rotated))).TrustAsync(server.Uri);
        Assert.Equal(2, Events("trusted"));
        Assert.Equal("matched the expected fingerprint", LastTrustedReason());
    }

    [Fact]
    public async Task HandshakeThatFailedAfterTheCertificateWasSeen_IsNeverTrusted()
    {
        // A relay in front of a TLS 1.2 server passes the server's first flight (certificate included), then closes the
        // connection instead of passing the server's Finished: the client saw the chain, but the server never proved
        // that it holds the leaf's key. (.NET on Linux runs the validation callback only after the TLS handshake itself
        // completed, so the probe reports no chain here; on a platform that validates inside the handshake it would
        // report the chain with the error, and the chain must still not be trusted.)
        await using var server = await TlsTestServer.StartAsync(new TlsTestServer.Options { Certificate = _pki.Leaf, Chain = [_pki.Intermediate], Protocols = SslProtocols.Tls12 });
        await using var relay = HostileServer.StartRaw(async (_, client, ct) =>
        {
            using var upstream = new System.Net.Sockets.TcpClient();
            await upstream.ConnectAsync(System.Net.IPAddress.Loopback, server.Port, ct);
            var toServer = upstream.GetStream();
            var forward = client.CopyToAsync(toServer, ct).ContinueWith(t => t.Exception, TaskScheduler.Default);
            var header = new byte[5];
            while (true)
            {
                await toServer.ReadExactlyAsync(header, ct);
                if (header[0] == 20)
                {
                    return; // ChangeCipherSpec: the server's Finished follows; never pass it on
                }

                var body = new byte[(header[3] << 8) | header[4]];
                await toServer.ReadExactlyAsync(body, ct);
                await client.WriteAsync(header, ct);
                await client.WriteAsync(body, ct);
            }
        });
        var uri = new UriBuilder(relay.Uri) { Scheme = "https" }.Uri;
        var probe = await MasterProbe.ProbeAsync(uri);
        Assert.True(probe.ErrorText is not null, $"the relay should fail the handshake; probe: {probe.PresentedChain.Count} certificate(s), no error");
        var tofu = NewTofu(_ => true, expected: CertificatePin.Parse(CertificatePin.Sha256Fingerprint(_pki.Leaf)));

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => tofu.TrustAsync(uri));

        Assert.Equal(MasterConnectionError.HandshakeFailed, ex.Error);
        Assert.Empty(tofu.Store.List());
    }

    [Fact]
    public async Task ImpostorIntermediate_SameNameAndKeyIdentifierButAnotherKey_IsNeverStored()
    {
        // The server appends a certificate that names itself the leaf's issuer (same subject, same key identifier) but
        // whose key did not sign the leaf: only the leaf, whose key the handshake proved, may be stored.
        using var impostorKey = TestKeys.EcP256();
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(_pki.Intermediate.SubjectName, impostorKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(_pki.Intermediate.Extensions["2.5.29.14"]!);
        using var impostor = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using var server = await OpenSslServer.StartAsync(_pki.Leaf, impostor);
        var seen = new List<CertificateTrustRequest>();

        await NewTofu(r =>
        {
            seen.Add(r);
            return true;
        }).TrustAsync(server.Uri);

        Assert.Single(Assert.Single(seen).Chain);
        Assert.Equal(TestCertificates.Pem(_pki.Leaf).Trim(), new MasterCertificateStore(ConfigDirectory).Get(server.Uri.ToString())!.Trim());
    }

    [Fact]
    public async Task AddedCertificateThePlatformCannotProcess_OnlyTheLeafIsStored_NoRawPlatformException()
    {
        // The server appends a certificate with the issuer's name and key identifier but an explicit-curve key, which
        // OpenSSL refuses to process while building the chain (error 94): linking stops at the proven leaf.
        using var named = TestKeys.EcP256();
        using var explicitCurve = System.Security.Cryptography.ECDsa.Create(named.ExportExplicitParameters(false));
        var issuerName = _pki.Intermediate.Subject;
        var unprocessable = new RawCertificate
        {
            Subject = issuerName,
            Issuer = issuerName,
            PublicKey = explicitCurve.ExportSubjectPublicKeyInfo(),
            NotBefore = DateTimeOffset.UtcNow.AddDays(-1),
            NotAfter = DateTimeOffset.UtcNow.AddDays(30),
            Extensions = [RawExtensions.BasicConstraints(true), _pki.Intermediate.Extensions["2.5.29.14"]!],
        }.Load();
        using var server = await OpenSslServer.StartAsync(_pki.Leaf, unprocessable);
        var tofu = NewTofu(_ => true);

        var thrown = await Xunit.Record.ExceptionAsync(() => tofu.TrustAsync(server.Uri));

        Assert.True(thrown is null or MasterConnectionException, $"expected trust of the leaf or a classified refusal, got {thrown}");
        if (thrown is null)
        {
            Assert.Equal(TestCertificates.Pem(_pki.Leaf).Trim(), tofu.Store.Get(server.Uri.ToString())!.Trim());
        }
    }

    [Fact]
    public async Task StoreChangedByAnotherProcessDuringThePrompt_NothingIsStoredAndTheErrorSaysWhy()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var other = TestCertificates.Pem(TestCertificates.CreateRoot("Other Process CA"));
        var tofu = NewTofu(request =>
        {
            new MasterCertificateStore(ConfigDirectory).Set(request.MasterUrl, other);
            return true;
        });

        var ex = await Assert.ThrowsAsync<DeterminedStoreException>(() => tofu.TrustAsync(server.Uri));

        Assert.Contains("changed while this process was deciding", ex.Message, StringComparison.Ordinal);
        Assert.Equal(other, tofu.Store.Get(server.Uri.ToString()));
    }

    [Fact]
    public async Task EveryRefusal_MatchesTheApprovedWording()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        await using var plain = await TlsTestServer.StartAsync((System.Security.Cryptography.X509Certificates.X509Certificate2?)null);
        var text = new StringBuilder();
        var wrongPin = CertificatePin.Parse(CertificatePin.Sha256Fingerprint(_pki.Root) is var f ? f.Replace(f[..2], f[..2] == "00" ? "11" : "00", StringComparison.Ordinal) : f);

        await Record(text, "no-prompt-no-pin", () => NewTofu().TrustAsync(server.Uri));
        await Record(text, "rejected-at-the-prompt", () => NewTofu(_ => false).TrustAsync(server.Uri));
        await Record(text, "expected-pin-not-in-the-chain", () => NewTofu(expected: wrongPin).TrustAsync(server.Uri));
        await Record(text, "plain-http-port", () => NewTofu(_ => true).TrustAsync(new UriBuilder(plain.Uri) { Scheme = "https" }.Uri));
        await using (var closing = HostileServer.StartRaw((_, _, _) => Task.CompletedTask))
        {
            await Record(text, "closed-at-once", () => NewTofu(_ => true).TrustAsync(new UriBuilder(closing.Uri) { Scheme = "https" }.Uri));
        }

        await using (var notTls = HostileServer.StartRaw((_, client, ct) => client.WriteAsync("SSH-2.0-OpenSSH_9.2\r\n"u8.ToArray(), ct).AsTask()))
        {
            await Record(text, "handshake-failed", () => NewTofu(_ => true).TrustAsync(new UriBuilder(notTls.Uri) { Scheme = "https" }.Uri));
        }

        await Record(text, "nothing-listens", () => NewTofu(_ => true).TrustAsync(new Uri($"https://127.0.0.1:{HostileServer.ClosedPort()}")));

        await NewTofu(_ => true).TrustAsync(server.Uri);
        server.SetCertificate(TestCertificates.CreateLeaf(_pki.Intermediate), _pki.Intermediate);
        await Record(text, "certificate-changed", () => NewTofu(_ => true).TrustAsync(server.Uri));

        var normalized = Port().Replace(Dates().Replace(ApprovedText.Normalize(text.ToString()), "<date>"), "127.0.0.1:<port>");
        ApprovedText.Verify("Determined.Security.Tests", "trust-on-first-use.txt", normalized);
    }

    private static async Task Record(StringBuilder text, string name, Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<MasterConnectionException>(action);
        text.Append("== ").Append(name).Append('\n')
            .Append("error: ").Append(ex.Error).Append('\n')
            .Append("message: ").Append(Regex.Replace(ex.Message, @"\(TLS handshake failed: [^)]*\)", "(TLS handshake failed: <platform message>)")).Append('\n')
            .Append("fix: ").Append(ex.SuggestedFix).Append('\n');
    }

    private Determined.Security.TrustOnFirstUse NewTofu(Func<CertificateTrustRequest, bool>? prompt = null, CertificatePin? expected = null) =>
        new(new MasterCertificateStore(ConfigDirectory), _logs.CreateLogger<Determined.Security.TrustOnFirstUse>())
        {
            ExpectedPin = expected,
            Prompt = prompt is null ? null : (request, _) => ValueTask.FromResult(prompt(request)),
        };

    private static Task<string> GetInfoAsync(Determined.Security.TrustOnFirstUse tofu, Uri uri, TlsOptions options) =>
        tofu.ExecuteAsync(uri, TlsPolicy.Create(options), async (policy, ct) =>
        {
            using var client = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(policy)).CreateHandler(uri));
            return await client.GetStringAsync(new Uri(uri, "/info"), ct);
        });

    private double Events(string name) => _meter.Sum(FirstUseCounter, "event", name);

    private string? LastTrustedReason() =>
        _logs.Records.Last(r => r.Id.Id == EventIds.CertificateTrusted).StructuredState!.Single(kv => kv.Key == "How").Value;

    [GeneratedRegex(@"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ")]
    private static partial Regex Dates();

    [GeneratedRegex(@"127\.0\.0\.1:\d+")]
    private static partial Regex Port();
}
