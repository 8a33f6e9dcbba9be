using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Determined.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Security.Tests.Trust;

/// <summary>
/// The trust evaluator's own rules, socket-free: the decision and its reason per policy, the handshake options it hands
/// the platform, the cache of the last accepted chain (which must never accept what a full judgement would refuse: another
/// host, another chain, a clock outside any element's dates), the expiry warning, and <see cref="TrustEvaluator.ValidateCertificate"/>'s
/// edges. The handshake callback is called the way <see cref="SslStream"/> calls it, with a chain the platform built.
/// Not run in parallel with other classes: it counts the process-wide handshake counter.
/// </summary>
[Collection(ProcessWideTelemetry.Name)]
public sealed class TrustEvaluatorTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2030, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Clock _clock = new(Start);
    private readonly TestCertificates.Issued _root;
    private readonly TestCertificates.Issued _intermediate;
    private readonly MeterCapture _meter = new(SecurityTelemetry.MeterName);

    public TrustEvaluatorTests()
    {
        _root = TestCertificates.Issue(null, Authority("Evaluator Root", new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero), new(2035, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        _intermediate = TestCertificates.Issue(_root, Authority("Evaluator Intermediate", new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero), new(2034, 1, 1, 0, 0, 0, TimeSpan.Zero)));
    }

    public void Dispose()
    {
        _meter.Dispose();
        _root.Key?.Dispose();
        _intermediate.Key?.Dispose();
    }

    [Fact]
    public void Resolve_EveryKindOfPolicy_MatchesTheApprovedReasons()
    {
        var pem = TestCertificates.Pem(_root.Certificate, _intermediate.Certificate);
        var cases = new (string Name, string Url, TlsOptions Options)[]
        {
            ("plain-http", "http://master.example.com:8080", new TlsOptions()),
            ("skip-verification", "https://master.example.com:8443", new TlsOptions { DangerousSkipVerification = true }),
            ("system-roots", "https://master.example.com:8443", new TlsOptions()),
            ("system-roots-name-override", "https://10.0.0.5:8443", new TlsOptions { MasterCertificateName = "master.example.com" }),
            ("pinned-only", "https://master.example.com:8443", new TlsOptions { MasterCertificatePem = pem, TrustMode = MasterTrustMode.PinnedOnly }),
            ("pinned-added-name-override", "https://10.0.0.5:8443", new TlsOptions { MasterCertificatePem = pem, MasterCertificateName = "master.example.com" }),
        };
        var text = new StringBuilder();
        foreach (var (name, url, options) in cases)
        {
            var decision = new TrustEvaluator(TlsPolicy.Create(options), NullLogger.Instance, _clock, null).Decide(new Uri(url));
            text.Append("== ").Append(name).Append('\n')
                .Append(decision.Anchors).Append(" | ").Append(decision.ExpectedName).Append(" | ").Append(decision.PinnedCertificateCount).Append(" | ").Append(decision.Reason).Append('\n');
        }

        ApprovedText.Verify("Determined.Security.Tests", "trust-decisions.txt", ApprovedText.Normalize(text.ToString()));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void CreateSslOptions_HandsThePlatformTheRevocationModeDownloadsAndServerAuthPurpose(bool checkRevocation, bool pinned)
    {
        var options = new TlsOptions { CheckCertificateRevocation = checkRevocation, MasterCertificatePem = pinned ? TestCertificates.Pem(_root.Certificate) : null };
        var ssl = new TrustEvaluator(TlsPolicy.Create(options), NullLogger.Instance, _clock, null).CreateSslOptions("master.example.com");

        var mode = checkRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;
        Assert.Equal(mode, ssl.CertificateRevocationCheckMode);
        Assert.False(ssl.AllowRenegotiation);
        var chainPolicy = ssl.CertificateChainPolicy!;
        Assert.Equal(mode, chainPolicy.RevocationMode);
        Assert.Equal(!checkRevocation, chainPolicy.DisableCertificateDownloads);
        Assert.Equal(pinned ? X509ChainTrustMode.CustomRootTrust : X509ChainTrustMode.System, chainPolicy.TrustMode);
        Assert.Equal([TestCertificates.ServerAuth], chainPolicy.ApplicationPolicy.Cast<Oid>().Select(o => o.Value));
        Assert.NotNull(ssl.RemoteCertificateValidationCallback);
    }

    [Fact]
    public void CreateSslOptions_SkipVerification_AcceptsAnythingAndWarnsEachTime()
    {
        using var logs = new FakeLoggerFactory();
        var evaluator = new TrustEvaluator(TlsPolicy.Create(new TlsOptions { DangerousSkipVerification = true }), logs.CreateLogger("t"), _clock, null);

        var first = evaluator.CreateSslOptions("a.example.com");
        evaluator.CreateSslOptions("b.example.com");
        evaluator.ValidateCertificate(new Uri("https://c.example.com"), RawCertificate.Server("x").Load(), null);

        Assert.True(first.RemoteCertificateValidationCallback!(this, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
        Assert.Equal(["a.example.com", "b.example.com", "c.example.com"], logs.Records.Where(r => r.Id.Id == EventIds.DangerousSkipVerification).Select(r => r.StructuredState!.Single(kv => kv.Key == "ExpectedName").Value));
    }

    [Fact]
    public void Callback_SameChainAgain_IsAcceptedFromTheCacheWithoutAnotherJudgement()
    {
        var leaf = Leaf("cache-hit.example.com");
        var options = Evaluator().CreateSslOptions("cache-hit.example.com");

        var accepted = AcceptedCount();
        Assert.True(Call(options, leaf));
        Assert.True(Call(options, leaf));

        Assert.Equal(1, Judgements("cache-hit.example.com"));
        Assert.Equal(2, AcceptedCount() - accepted);
    }

    [Fact]
    public void Callback_CachedChainPresentedForAnotherHost_IsJudgedAndRefused()
    {
        var evaluator = Evaluator();
        var leaf = Leaf("cache-host.example.com");
        Assert.True(Call(evaluator.CreateSslOptions("cache-host.example.com"), leaf));

        var ex = Assert.Throws<MasterConnectionException>(() => Call(evaluator.CreateSslOptions("other-host.example.com"), leaf));

        Assert.Equal(MasterConnectionError.NameMismatch, ex.Error);
    }

    [Fact]
    public void Callback_AnotherChainAfterACachedOne_IsJudged()
    {
        var options = Evaluator().CreateSslOptions("cache-other.example.com");
        Assert.True(Call(options, Leaf("cache-other.example.com")));

        // Issued by the same trusted CA, so the platform reports no error; the profile refuses its key.
        var ex = Assert.Throws<MasterConnectionException>(() => Call(options, Leaf("cache-other.example.com", rsaBits: 1024)));

        Assert.Equal(MasterConnectionError.WeakKey, ex.Error);
    }

    [Fact]
    public void Callback_ClockPastTheEarliestNotAfter_JudgesAgainAndRefuses()
    {
        // The leaf ends before its CA: the cache must end with the leaf, not with the CA.
        var options = Evaluator().CreateSslOptions("cache-expiry.example.com");
        var leaf = Leaf("cache-expiry.example.com", notAfter: Start.AddDays(10));
        Assert.True(Call(options, leaf));

        _clock.Now = Start.AddDays(10).AddSeconds(1);
        var ex = Assert.Throws<MasterConnectionException>(() => Call(options, leaf));

        Assert.Equal(MasterConnectionError.Expired, ex.Error);
    }

    [Fact]
    public void Callback_ClockBeforeTheLatestNotBefore_JudgesAgainAndRefuses()
    {
        // The leaf starts after its CA: the cache must start with the leaf, not with the CA.
        var options = Evaluator().CreateSslOptions("cache-start.example.com");
        var leaf = Leaf("cache-start.example.com", notBefore: Start.AddDays(-1));
        Assert.True(Call(options, leaf));

        _clock.Now = Start.AddDays(-2);
        var ex = Assert.Throws<MasterConnectionException>(() => Call(options, leaf));

        Assert.Equal(MasterConnectionError.NotYetValid, ex.Error);
    }

    [Fact]
    public void Callback_CacheBounds_ClockAtNotBeforeIsACacheHit_ClockAtNotAfterIsJudgedAgain()
    {
        var options = Evaluator().CreateSslOptions("cache-bounds.example.com");
        var leaf = Leaf("cache-bounds.example.com", notBefore: Start, notAfter: Start.AddDays(10));
        Assert.True(Call(options, leaf));
        Assert.True(Call(options, leaf));
        Assert.Equal(1, Judgements("cache-bounds.example.com"));

        _clock.Now = Start.AddDays(10);
        Assert.True(Call(options, leaf));

        Assert.Equal(2, Judgements("cache-bounds.example.com"));
    }

    [Fact]
    public void Callback_PlatformReportsAnError_IsJudgedDespiteTheCache()
    {
        var options = Evaluator().CreateSslOptions("cache-errors.example.com");
        var leaf = Leaf("cache-errors.example.com");
        Assert.True(Call(options, leaf));

        Assert.True(Call(options, leaf, errors: SslPolicyErrors.RemoteCertificateNameMismatch));

        Assert.Equal(2, Judgements("cache-errors.example.com"));
    }

    [Fact]
    public void Callback_ShorterChainThanTheCachedOne_IsJudgedAndRefused()
    {
        var options = Evaluator().CreateSslOptions("cache-short.example.com");
        var leaf = Leaf("cache-short.example.com");
        Assert.True(Call(options, leaf));

        var ex = Assert.Throws<MasterConnectionException>(() => Call(options, leaf, sendIntermediate: false));

        Assert.Equal(MasterConnectionError.IncompleteChain, ex.Error);
    }

    [Fact]
    public void Callback_NoChain_IsJudgedAndRefused()
    {
        var options = Evaluator().CreateSslOptions("cache-null.example.com");
        var leaf = Leaf("cache-null.example.com");
        Assert.True(Call(options, leaf));

        var ex = Assert.Throws<MasterConnectionException>(() => options.RemoteCertificateValidationCallback!(this, leaf, null, SslPolicyErrors.None));

        Assert.Equal(MasterConnectionError.IncompleteChain, ex.Error);
    }

    [Fact]
    public void Callback_NoCertificate_IsRefusedAsNoCertificate()
    {
        var options = Evaluator().CreateSslOptions("cache-none.example.com");

        var ex = Assert.Throws<MasterConnectionException>(() => options.RemoteCertificateValidationCallback!(this, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));

        Assert.Equal(MasterConnectionError.NoCertificate, ex.Error);
    }

    [Theory]
    [InlineData(30, 30, true)] // exactly at the warning distance: warned
    [InlineData(30, 31, false)]
    [InlineData(0, 0, false)] // warning off, even on the last second
    public void ExpiryWarning_AtItsBoundary_NamesTheFirstCertificateToExpireOnce(int warningDays, int daysLeft, bool warned)
    {
        using var logs = new FakeLoggerFactory();
        var leaf = Leaf("expiry.example.com", notAfter: Start.AddDays(daysLeft));
        var evaluator = new TrustEvaluator(Policy(new TlsOptions { CertificateExpiryWarning = TimeSpan.FromDays(warningDays) }), logs.CreateLogger("t"), _clock, null);

        evaluator.ValidateCertificate(new Uri("https://expiry.example.com"), leaf, [_intermediate.Certificate]);
        evaluator.ValidateCertificate(new Uri("https://expiry.example.com"), leaf, [_intermediate.Certificate]);

        var warnings = logs.Records.Where(r => r.Id.Id == EventIds.CertificateExpiresSoon).ToList();
        Assert.Equal(warned ? 1 : 0, warnings.Count);
        if (warned)
        {
            Assert.Equal("CN=expiry.example.com", warnings[0].StructuredState!.Single(kv => kv.Key == "Subject").Value);
        }
    }

    [Fact]
    public void ExpiryWarning_CaAndLeafEndTogether_NamesTheServerCertificate()
    {
        using var logs = new FakeLoggerFactory();
        var ca = TestCertificates.Issue(_root, Authority("Ends Together CA", Start.AddDays(-30), Start.AddDays(5)));
        var leaf = TestCertificates.Issue(ca, Server("together.example.com", Start.AddDays(-1), Start.AddDays(5))).Certificate;
        var evaluator = new TrustEvaluator(Policy(new TlsOptions()), logs.CreateLogger("t"), _clock, null);

        evaluator.ValidateCertificate(new Uri("https://together.example.com"), leaf, [ca.Certificate]);

        var warning = Assert.Single(logs.Records, r => r.Id.Id == EventIds.CertificateExpiresSoon);
        Assert.Equal("CN=together.example.com", warning.StructuredState!.Single(kv => kv.Key == "Subject").Value);
    }

    [Fact]
    public void ValidateCertificate_Refused_ReportsTheChainErrorAndEveryPresentedCertificate()
    {
        var stranger = TestCertificates.Issue(null, Authority("Stranger CA", Start.AddDays(-30), Start.AddDays(300)));
        var leaf = TestCertificates.Issue(stranger, Server("validate.example.com", Start.AddDays(-1), Start.AddDays(30))).Certificate;

        var ex = Assert.Throws<MasterConnectionException>(() => Evaluator().ValidateCertificate(new Uri("https://validate.example.com"), leaf, [stranger.Certificate]));

        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
        Assert.Contains("no certificate in it leads to a pinned or trusted root", ex.Message, StringComparison.Ordinal);
        Assert.Equal(SslPolicyErrors.RemoteCertificateChainErrors, ex.PolicyErrors);
        Assert.Equal(2, ex.PresentedChain.Count);
    }

    [Fact]
    public void ValidateCertificate_Accepted_WithAndWithoutIntermediates()
    {
        var evaluator = Evaluator(_intermediate.Certificate);

        evaluator.ValidateCertificate(new Uri("https://validate-ok.example.com"), Leaf("validate-ok.example.com"), null);
        evaluator.ValidateCertificate(new Uri("https://validate-ok.example.com"), Leaf("validate-ok.example.com"), [_intermediate.Certificate]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ValidateCertificate_LeafThePlatformCannotRead_IsRefusedWithEveryPresentedCertificate(bool withIntermediate)
    {
        // notAfter's first digit with its high bit set: the loader accepts the bytes, the chain builder throws.
        var leaf = Leaf("unreadable.example.com", notAfter: new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var der = leaf.RawData;
        var at = der.AsSpan().IndexOf("\u0017\u000d310101000000Z"u8);
        Assert.True(at > 0, "notAfter not found");
        der[at + 2] |= 0x80;
        var broken = X509CertificateLoader.LoadCertificate(der);

        var ex = Assert.Throws<MasterConnectionException>(() => Evaluator().ValidateCertificate(new Uri("https://unreadable.example.com"), broken, withIntermediate ? [_intermediate.Certificate] : null));

        Assert.Equal(withIntermediate ? 2 : 1, ex.PresentedChain.Count);
    }

    [Fact]
    public void ValidateCertificate_TwoIssuersOfOneNameOneConstrained_AcceptedWhateverTheServerOrder()
    {
        // Rule 18 (docs/SECURITY-PROFILE.md): one key certified twice under the same name, once with name constraints that
        // exclude the master. Whichever the platform tries first, the path through the unconstrained one is found.
        using var key = TestKeys.EcP256();
        var constrained = TestCertificates.Issue(_root, Authority("Alternative Intermediate", Start.AddDays(-30), Start.AddDays(300)) with { Key = key, Extensions = [RawExtensions.NameConstraints(null, ["alt.example.com"])] });
        var plain = TestCertificates.Issue(_root, Authority("Alternative Intermediate", Start.AddDays(-30), Start.AddDays(300)) with { Key = key });
        var leaf = TestCertificates.Issue(plain, Server("alt.example.com", Start.AddDays(-1), Start.AddDays(30))).Certificate;
        var uri = new Uri("https://alt.example.com");
        var evaluator = Evaluator();

        var alone = Assert.Throws<MasterConnectionException>(() => evaluator.ValidateCertificate(uri, leaf, [constrained.Certificate]));
        Assert.Equal(MasterConnectionError.NameConstraintViolation, alone.Error);

        evaluator.ValidateCertificate(uri, leaf, [constrained.Certificate, plain.Certificate]);
        evaluator.ValidateCertificate(uri, leaf, [plain.Certificate, constrained.Certificate]);
    }

    [Fact]
    public void ValidateCertificate_AlternativePathThatBreaksARule_IsNotTaken()
    {
        // The unconstrained certificate of the same key has expired by the resolver's clock: the other path reaches the
        // root, but the profile refuses it, so the chain is refused for the constraint of the first.
        using var key = TestKeys.EcP256();
        var constrained = TestCertificates.Issue(_root, Authority("Alternative Intermediate", Start.AddDays(-30), Start.AddDays(300)) with { Key = key, Extensions = [RawExtensions.NameConstraints(null, ["alt2.example.com"])] });
        var expired = TestCertificates.Issue(_root, Authority("Alternative Intermediate", Start.AddDays(-300), Start.AddDays(-1)) with { Key = key });
        var leaf = TestCertificates.Issue(constrained, Server("alt2.example.com", Start.AddDays(-1), Start.AddDays(30))).Certificate;

        var ex = Assert.Throws<MasterConnectionException>(() => Evaluator().ValidateCertificate(new Uri("https://alt2.example.com"), leaf, [constrained.Certificate, expired.Certificate]));

        Assert.Equal(MasterConnectionError.NameConstraintViolation, ex.Error);
    }

    [Fact]
    public void PinnedAdded_ChainUnderASystemRoot_IsAcceptedAndSaysSo()
    {
        using var logs = new FakeLoggerFactory();
        var system = TestCertificates.Issue(null, Authority("System Root", Start.AddDays(-30), Start.AddDays(900)));
        var leaf = TestCertificates.Issue(system, Server("system.example.com", Start.AddDays(-1), Start.AddDays(30))).Certificate;
        var evaluator = new TrustEvaluator(Policy(new TlsOptions()), logs.CreateLogger("t"), _clock, [system.Certificate]);

        evaluator.ValidateCertificate(new Uri("https://system.example.com"), leaf, null);

        var accepted = Assert.Single(logs.Records, r => r.Id.Id == EventIds.AcceptedBySystemRoots);
        Assert.Equal("system.example.com", accepted.StructuredState!.Single(kv => kv.Key == "Host").Value);
    }

    [Fact]
    public void PinnedAdded_ChainUnderASystemRootRefused_CarriesWhatTheSystemBuildReported()
    {
        var system = TestCertificates.Issue(null, Authority("System Root", Start.AddDays(-30), Start.AddDays(900)));
        var constrained = TestCertificates.Issue(system, Authority("System Constrained CA", Start.AddDays(-30), Start.AddDays(900)) with { Extensions = [RawExtensions.NameConstraints(null, ["refused.example.com"])] });
        var leaf = TestCertificates.Issue(constrained, Server("refused.example.com", Start.AddDays(-1), Start.AddDays(30))).Certificate;
        var evaluator = new TrustEvaluator(Policy(new TlsOptions()), NullLogger.Instance, _clock, [system.Certificate]);

        var ex = Assert.Throws<MasterConnectionException>(() => evaluator.ValidateCertificate(new Uri("https://refused.example.com"), leaf, [constrained.Certificate]));

        Assert.Equal(MasterConnectionError.NameConstraintViolation, ex.Error);
        Assert.Contains(X509ChainStatusFlags.HasExcludedNameConstraint, ex.ChainStatus);
        Assert.DoesNotContain(X509ChainStatusFlags.UntrustedRoot, ex.ChainStatus);
    }

    [Fact]
    public void Callback_PlatformSaysNoCertificate_OrNoLeaf_IsRefusedAsNoCertificate()
    {
        var options = Evaluator().CreateSslOptions("nocert.example.com");
        var leaf = Leaf("nocert.example.com");

        var withLeaf = Assert.Throws<MasterConnectionException>(() => options.RemoteCertificateValidationCallback!(this, leaf, null, SslPolicyErrors.RemoteCertificateNotAvailable));
        var withoutLeaf = Assert.Throws<MasterConnectionException>(() => options.RemoteCertificateValidationCallback!(this, null, null, SslPolicyErrors.None));

        Assert.Equal(MasterConnectionError.NoCertificate, withLeaf.Error);
        Assert.Equal(MasterConnectionError.NoCertificate, withoutLeaf.Error);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ValidateCertificate_ExplicitCurveKeyThePlatformCannotProcess_IsRefusedAsWeakKeyWithEveryPresentedCertificate(bool withIntermediate)
    {
        using var named = TestKeys.EcP256();
        using var explicitCurve = ECDsa.Create(named.ExportExplicitParameters(false));
        var leaf = TestCertificates.Issue(_intermediate, Server("explicit.example.com", Start.AddDays(-1), Start.AddDays(30)) with { PublicKey = () => PublicKey.CreateFromSubjectPublicKeyInfo(explicitCurve.ExportSubjectPublicKeyInfo(), out _) }).Certificate;

        var ex = Assert.Throws<MasterConnectionException>(() => Evaluator().ValidateCertificate(new Uri("https://explicit.example.com"), leaf, withIntermediate ? [_intermediate.Certificate] : null));

        Assert.Equal(MasterConnectionError.WeakKey, ex.Error);
        Assert.Equal(withIntermediate ? 2 : 1, ex.PresentedChain.Count);
    }

    [Fact]
    public void ValidateCertificate_CaWhoseExtendedKeyUsageExcludesServers_IsRefusedNamingTheCa()
    {
        var clientOnly = TestCertificates.Issue(_root, Authority("Client Only CA", Start.AddDays(-30), Start.AddDays(300)) with { Extensions = [new X509EnhancedKeyUsageExtension([new Oid(TestCertificates.ClientAuth)], false)] });
        var leaf = TestCertificates.Issue(clientOnly, Server("eku.example.com", Start.AddDays(-1), Start.AddDays(30))).Certificate;

        var ex = Assert.Throws<MasterConnectionException>(() => Evaluator().ValidateCertificate(new Uri("https://eku.example.com"), leaf, [clientOnly.Certificate]));

        Assert.Equal(MasterConnectionError.WrongKeyUsage, ex.Error);
        Assert.Contains("a CA in the chain restricts its extended key usage to purposes without TLS server authentication (serverAuth)", ex.Message, StringComparison.Ordinal);
        Assert.Equal("re-issue the intermediate CA with extendedKeyUsage including serverAuth (or without extendedKeyUsage)", ex.SuggestedFix);
    }

    [Fact]
    public void ValidateCertificate_PinnedSelfSignedServerCertificate_IsItsOwnAnchor()
    {
        using var key = TestKeys.EcP256();
        var request = new CertificateRequest("CN=self.example.com", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(TestCertificates.ServerAuth)], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("self.example.com");
        request.CertificateExtensions.Add(san.Build());
        using var created = request.CreateSelfSigned(Start.AddDays(-1), Start.AddDays(30));
        var self = X509CertificateLoader.LoadCertificate(created.RawData);
        var evaluator = Evaluator(self);

        evaluator.ValidateCertificate(new Uri("https://self.example.com"), self, null);
    }

    [Fact]
    public void ValidateCertificate_PinnedRootWithAForeignKeyIdentifier_IsNoAnchor_AndTheFixSaysHowToRecreateIt()
    {
        var foreign = X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(RandomNumberGenerator.GetBytes(20));
        var root = TestCertificates.Issue(null, Authority("Foreign Key Id Root", Start.AddDays(-30), Start.AddDays(900)) with { Extensions = [foreign] });
        var leaf = TestCertificates.Issue(root, Server("foreign.example.com", Start.AddDays(-1), Start.AddDays(30))).Certificate;
        var evaluator = Evaluator(root.Certificate);

        var ex = Assert.Throws<MasterConnectionException>(() => evaluator.ValidateCertificate(new Uri("https://foreign.example.com"), leaf, null));

        Assert.Equal(MasterConnectionError.InvalidChain, ex.Error);
        Assert.Contains("re-create the CA certificate (a root's authority key identifier, when present, holds only its own subject key identifier), re-issue the chain and pin the new root", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public void ExpiryWarning_CaExpiresBeforeTheLeaf_NamesTheCa()
    {
        using var logs = new FakeLoggerFactory();
        var ca = TestCertificates.Issue(_root, Authority("Short Lived CA", Start.AddDays(-30), Start.AddDays(5)));
        var leaf = TestCertificates.Issue(ca, Server("short.example.com", Start.AddDays(-1), Start.AddDays(20))).Certificate;
        var evaluator = new TrustEvaluator(Policy(new TlsOptions { CertificateExpiryWarning = TimeSpan.FromDays(30) }), logs.CreateLogger("t"), _clock, null);

        evaluator.ValidateCertificate(new Uri("https://short.example.com"), leaf, [ca.Certificate]);

        var warning = Assert.Single(logs.Records, r => r.Id.Id == EventIds.CertificateExpiresSoon);
        Assert.Equal("CN=Short Lived CA", warning.StructuredState!.Single(kv => kv.Key == "Subject").Value);
    }

    /// <summary>An evaluator that trusts only <paramref name="pinned"/> (the test root by default), on the test's clock.</summary>
    private TrustEvaluator Evaluator(X509Certificate2? pinned = null) =>
        new(Policy(new TlsOptions { MasterCertificatePem = TestCertificates.Pem(pinned ?? _root.Certificate), TrustMode = MasterTrustMode.PinnedOnly }), NullLogger.Instance, _clock, null);

    private TlsPolicy Policy(TlsOptions options)
    {
        options.MasterCertificatePem ??= TestCertificates.Pem(_root.Certificate);
        return TlsPolicy.Create(options);
    }

    private bool Call(SslClientAuthenticationOptions options, X509Certificate2 leaf, SslPolicyErrors errors = SslPolicyErrors.None, bool sendIntermediate = true)
    {
        using var chain = new X509Chain { ChainPolicy = options.CertificateChainPolicy!.Clone() };
        chain.ChainPolicy.VerificationTime = _clock.Now.UtcDateTime;
        if (sendIntermediate)
        {
            chain.ChainPolicy.ExtraStore.Add(_intermediate.Certificate);
        }

        chain.Build(leaf);
        return options.RemoteCertificateValidationCallback!(this, leaf, chain, errors);
    }

    private int Judgements(string host) =>
        _meter.Measurements.Count(m => m.Instrument == "determined.security.master_certificate.expires_in" && Equals(m.Tags.GetValueOrDefault("server.address"), host));

    private double AcceptedCount() => _meter.Sum("determined.security.handshakes", "result", "accepted");

    private X509Certificate2 Leaf(string dns, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, int rsaBits = 0) =>
        TestCertificates.Issue(_intermediate, Server(dns, notBefore ?? Start.AddDays(-30), notAfter ?? Start.AddDays(200)) with { NewKey = rsaBits > 0 ? () => TestKeys.Rsa(rsaBits) : null }).Certificate;

    /// <summary>A CA as these tests make them: EC P-256 unless given a key, no authorityKeyIdentifier.</summary>
    private static TestCertificates.CertificateSpec Authority(string name, DateTimeOffset from, DateTimeOffset to) =>
        new TestCertificates.CertificateSpec { NotBefore = from, NotAfter = to, NoAuthorityKeyIdentifier = true }.Authority(name);

    /// <summary>A server certificate for <paramref name="dns"/> (subject CN and DNS SAN), serverAuth, digitalSignature and keyEncipherment whatever the key, no subjectKeyIdentifier.</summary>
    private static TestCertificates.CertificateSpec Server(string dns, DateTimeOffset from, DateTimeOffset to) => new()
    {
        Subject = "CN=" + dns,
        Dns = [dns],
        NotBefore = from,
        NotAfter = to,
        KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
        SubjectKeyIdentifier = false,
    };

    /// <summary>A clock the test sets, forwards or backwards.</summary>
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}

/// <summary>The evaluator's calls by host name and URL, as the resolver makes them (a decision for the master URL first).</summary>
internal static class TrustEvaluatorCalls
{
    public static System.Net.Security.SslClientAuthenticationOptions CreateSslOptions(this TrustEvaluator evaluator, string host) =>
        evaluator.CreateSslOptions(evaluator.Decide(new Uri($"https://{host}")));

    public static void ValidateCertificate(this TrustEvaluator evaluator, Uri masterUri, System.Security.Cryptography.X509Certificates.X509Certificate2 certificate, System.Security.Cryptography.X509Certificates.X509Certificate2Collection? additional) =>
        evaluator.ValidateCertificate(evaluator.Decide(masterUri), certificate, additional);
}
