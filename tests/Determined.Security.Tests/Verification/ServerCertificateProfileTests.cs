using System.Diagnostics;
using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Determined.Security.Tests.Verification;

/// <summary>
/// The server-certificate profile (docs/SECURITY-PROFILE.md), socket-free through
/// <see cref="CertificateTrustResolver.ValidateCertificate"/>: for every rule one chain that is accepted and one that is
/// refused with its class, built at test time. Every certificate is valid only in 2030 and every resolver's clock says
/// 2030-06-01, so each verdict is taken on the resolver's clock, never on the machine's.
/// </summary>
public sealed class ServerCertificateProfileTests
{
    private const string Url = "https://master.example.com:8443";
    private const string ServerAuth = TestCertificates.ServerAuth;
    private const string ClientAuth = TestCertificates.ClientAuth;
    private const string AnyExtendedKeyUsage = "2.5.29.37.0";

    private static readonly DateTimeOffset ValidFrom = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset ValidTo = new(2031, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Clock = new(2030, 6, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The leaf every scenario starts from: master.example.com (subject and DNS SAN), serverAuth, EC P-256, valid only in 2030; <c>Master.Authority(name)</c> is a CA with the same dates.</summary>
    private static readonly TestCertificates.CertificateSpec Master = new() { NotBefore = ValidFrom, NotAfter = ValidTo };

    private readonly ITestOutputHelper _output;
    private readonly TestCertificates.Issued _root;
    private readonly TestCertificates.Issued _intermediate;

    public ServerCertificateProfileTests(ITestOutputHelper output)
    {
        _output = output;
        _root = TestCertificates.Issue(null, Master.Authority("Profile Test Root"));
        _intermediate = TestCertificates.Issue(_root, Master.Authority("Profile Test Intermediate"));
    }

    public static TheoryData<string> AcceptedScenarios => new()
    {
        "baseline",
        "end-entity/pinned-self-signed-ca-with-san",
        "end-entity/no-eku",
        "end-entity/intermediate-eku-server-auth",
        "end-entity/key-usage-key-agreement-only",
        "keys/rsa-2048-intermediate",
        "keys/rsa-2048-leaf",
        "keys/p384-leaf",
        "signatures/sha256-signed-intermediate-under-rsa-root",
        "signatures/sha1-self-signed-pinned-root",
        "names/wildcard-one-label",
        "names/invalid-dns-names-next-to-the-valid-one",
        "names/ipv6-url-ip-san",
        "names/ipv4-url-ip-san",
        "name-constraints/permitted-domain",
        "name-constraints/excluded-other-name",
        "name-constraints/ip-permitted",
        "clock/chain-valid-only-in-2030",
        "clock/leaf-not-after-equals-clock",
        "clock/leaf-not-before-equals-clock",
        "clock/intermediate-not-after-equals-clock",
        "partial-chain/pinned-intermediate",
        "partial-chain/pinned-intermediate-leaf-sent-alone",
    };

    public static TheoryData<string, MasterConnectionError> RefusedScenarios => new()
    {
        { "end-entity/ca-leaf-issued-by-ca-with-san", MasterConnectionError.CaCertificateAsServer },
        { "end-entity/key-usage-without-tls-bits", MasterConnectionError.WrongKeyUsage },
        { "end-entity/non-ca-with-key-cert-sign", MasterConnectionError.WrongKeyUsage },
        { "end-entity/eku-client-auth-only", MasterConnectionError.WrongKeyUsage },
        { "end-entity/eku-any-only", MasterConnectionError.WrongKeyUsage },
        { "end-entity/eku-server-auth-and-any", MasterConnectionError.WrongKeyUsage },
        { "end-entity/intermediate-eku-client-auth-only", MasterConnectionError.WrongKeyUsage },
        { "keys/rsa-1024-intermediate", MasterConnectionError.WeakKey },
        { "keys/rsa-1024-leaf", MasterConnectionError.WeakKey },
        { "keys/p192-leaf", MasterConnectionError.WeakKey },
        { "keys/dsa-leaf", MasterConnectionError.WeakKey },
        { "keys/explicit-curve-leaf", MasterConnectionError.WeakKey },
        { "signatures/sha1-signed-intermediate", MasterConnectionError.WeakSignature },
        { "signatures/sha1-signed-leaf", MasterConnectionError.WeakSignature },
        { "names/underscore-dns-san", MasterConnectionError.NameMismatch },
        { "name-constraints/invalid-dns-name-under-constraint", MasterConnectionError.NameConstraintViolation },
        { "name-constraints/ipv4-mapped-address-under-ipv4-exclusion", MasterConnectionError.NameConstraintViolation },
        { "end-entity/pinned-self-issued-ca-signed-by-another-key", MasterConnectionError.InvalidChain },
        { "names/wildcard-com", MasterConnectionError.NameMismatch },
        { "names/wildcard-co-uk", MasterConnectionError.NameMismatch },
        { "names/wildcard-s3-amazonaws-com", MasterConnectionError.NameMismatch },
        { "names/wildcard-two-labels-below", MasterConnectionError.NameMismatch },
        { "names/wildcard-base-name", MasterConnectionError.NameMismatch },
        { "names/ipv6-url-other-ip-san", MasterConnectionError.NameMismatch },
        // An address written as a DNS SAN ("DNS:127.0.0.1", a common mistake) is not refused as malformed, but it never
        // matches: an IP URL matches only IP SANs, compared as addresses.
        { "names/ipv4-url-dns-san-with-address", MasterConnectionError.NameMismatch },
        { "names/cn-only", MasterConnectionError.NameMismatch },
        { "name-constraints/excluded-name-under-wildcard", MasterConnectionError.NameConstraintViolation },
        { "name-constraints/permitted-narrower-than-wildcard", MasterConnectionError.NameConstraintViolation },
        { "name-constraints/not-critical", MasterConnectionError.NameConstraintViolation },
        { "name-constraints/in-non-ca-leaf", MasterConnectionError.NameConstraintViolation },
        { "name-constraints/neither-subtree", MasterConnectionError.MalformedCertificate },
        { "name-constraints/empty-permitted-subtree", MasterConnectionError.MalformedCertificate },
        { "name-constraints/leading-period", MasterConnectionError.MalformedCertificate },
        { "name-constraints/ip-outside-permitted", MasterConnectionError.NameConstraintViolation },
        { "clock/leaf-expired-one-second-before-clock", MasterConnectionError.Expired },
        { "clock/leaf-valid-one-second-after-clock", MasterConnectionError.NotYetValid },
        { "clock/intermediate-expired", MasterConnectionError.Expired },
        { "clock/intermediate-not-yet-valid", MasterConnectionError.NotYetValid },
        { "partial-chain/pinned-root-with-foreign-authority-key-id", MasterConnectionError.InvalidChain },
    };

    [Theory]
    [MemberData(nameof(AcceptedScenarios))]
    public void ValidateCertificate_ChainThatMeetsEveryRule_IsAccepted(string scenario)
    {
        var s = Build(scenario);

        var thrown = Validate(s);

        Assert.True(thrown is null, $"{scenario}: expected acceptance, got {thrown?.GetType().Name} [{string.Join(", ", (thrown as MasterConnectionException)?.Errors ?? [])}]: {thrown?.Message}");
    }

    [Theory]
    [MemberData(nameof(RefusedScenarios))]
    public void ValidateCertificate_ChainThatBreaksARule_IsRefusedWithItsClass(string scenario, MasterConnectionError expected)
    {
        var s = Build(scenario);

        var ex = AssertRefused(s, expected, scenario);

        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("BEGIN", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateCertificate_LeafWithClientAuthOnlyUnderUnrestrictedCa_MessageBlamesTheLeafNotACa()
    {
        var ex = AssertRefused(Build("end-entity/eku-client-auth-only"), MasterConnectionError.WrongKeyUsage, "client-auth leaf");

        Assert.Contains("the server certificate 'CN=master.example.com' has an extended key usage without TLS server authentication", ex.Message, StringComparison.Ordinal);
        Assert.True(!ex.Message.Contains("CA in the chain restricts", StringComparison.OrdinalIgnoreCase), $"no CA of this chain has an EKU, yet: {ex.Message}");
    }

    [Fact]
    public void ValidateCertificate_ClockAtNotAfterThenOneSecondLater_AcceptsThenRefusesAsExpired()
    {
        var notAfter = new DateTimeOffset(2030, 9, 15, 12, 30, 45, TimeSpan.Zero);
        var s = Chain(Leaf(Master with { NotAfter = notAfter }));

        Assert.Null(Validate(s, notAfter));
        var ex = AssertRefused(s, MasterConnectionError.Expired, "one second after notAfter", notAfter.AddSeconds(1));

        Assert.Contains("the server certificate", ex.Message, StringComparison.Ordinal);
        Assert.Contains("expired at 2030-09-15 12:30:45Z", ex.Message, StringComparison.Ordinal);
        Assert.Contains("clock says 2030-09-15 12:30:46Z", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateCertificate_ExpiredIntermediate_MessageNamesTheCaCertificate()
    {
        var ca = TestCertificates.Issue(_root, Master.Authority("Expired Intermediate") with { NotAfter = Clock.AddSeconds(-1) });
        var s = Under(ca, Master);

        var ex = AssertRefused(s, MasterConnectionError.Expired, "expired intermediate");

        Assert.Contains("CA certificate 'CN=Expired Intermediate'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("the server certificate 'CN=master.example.com' expired", ex.Message, StringComparison.Ordinal);
        Assert.Contains("renew the expired CA certificate", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateCertificate_ExpiredLeaf_MessageNamesTheServerCertificate()
    {
        var s = Chain(Leaf(Master with { NotAfter = Clock.AddSeconds(-1) }));

        var ex = AssertRefused(s, MasterConnectionError.Expired, "expired leaf");

        Assert.Contains("the server certificate 'CN=master.example.com' expired", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("CA certificate 'CN=Profile Test Intermediate'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("renew the master's certificate", ex.SuggestedFix, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateCertificate_IntermediateNotYetValid_MessageNamesTheCaCertificate()
    {
        var ca = TestCertificates.Issue(_root, Master.Authority("Future Intermediate") with { NotBefore = Clock.AddDays(1) });
        var s = Under(ca, Master);

        var ex = AssertRefused(s, MasterConnectionError.NotYetValid, "intermediate not yet valid");

        Assert.Contains("the CA certificate 'CN=Future Intermediate' (chain position 1) is not valid until 2030-06-02 00:00:00Z", ex.Message, StringComparison.Ordinal);
        Assert.Contains("clock says 2030-06-01 00:00:00Z", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateCertificate_ChainValidIn2030JudgedOnTheSystemClock_IsRefusedAsNotYetValid()
    {
        var s = Chain(Leaf());
        var resolver = new CertificateTrustResolver(Policy(s.Pinned), null, TimeProvider.System);

        var thrown = Record.Exception(() => resolver.ValidateCertificate(new Uri(s.Url), s.Leaf, [.. s.Intermediates]));

        var ex = Assert.IsType<MasterConnectionException>(thrown);
        Assert.Equal(MasterConnectionError.NotYetValid, ex.Error);
        Assert.Null(Validate(s));
    }

    [Fact]
    public void ValidateCertificate_PinnedRootWithForeignAuthorityKeyId_IsNotTreatedAsAnchor()
    {
        var s = Build("partial-chain/pinned-root-with-foreign-authority-key-id");

        var ex = AssertRefused(s, MasterConnectionError.InvalidChain, "pinned root with foreign AKI");

        Assert.Contains("could not be verified as a self-signed root", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateCertificate_NameConstraintViolation_MessageNamesTheNameAndTheConstrainingCa()
    {
        foreach (var (scenario, name) in new[] { ("name-constraints/permitted-narrower-than-wildcard", "name '*.example.com'"), ("name-constraints/ip-outside-permitted", "address 192.168.1.1") })
        {
            var ex = AssertRefused(Build(scenario), MasterConnectionError.NameConstraintViolation, scenario);

            Assert.Contains($"the server certificate's {name}", ex.Message, StringComparison.Ordinal);
            Assert.Contains("of the CA certificate 'CN=Constrained CA'", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ValidateCertificate_MutatedLeafOrIntermediate_ThrowsNothingButMasterConnectionException()
    {
        var ca = TestCertificates.Issue(_root, Master.Authority("Fuzz Intermediate") with
        {
            Extensions =
            [
                RawExtensions.NameConstraints(["example.com", "10.0.0.0/8", "::1/128"], ["bad.example.com", "10.9.0.0/16"]),
                new X509AuthorityInformationAccessExtension(["http://ocsp.example.com"], ["http://ca.example.com/root.crt"]),
            ],
        });
        var leaf = TestCertificates.Issue(ca, Master with
        {
            Dns = ["master.example.com", "*.masters.example.com"],
            Ips = ["10.1.2.3", "::1"],
            Extensions = [new X509AuthorityInformationAccessExtension(null, ["http://ca.example.com/intermediate.crt"])],
        }).Certificate;
        Assert.Null(Validate(new Scenario(Url, leaf, [ca.Certificate], [_root.Certificate])));

        var random = new Random(20300601);
        var tried = 0;
        var unloadable = 0;
        var accepted = new List<string>();
        var escaped = new List<string>();
        var byKind = new Dictionary<string, int>(StringComparer.Ordinal);
        var byError = new Dictionary<MasterConnectionError, int>();
        var mutants = Mutants(leaf.RawData, random, 1600).Select(m => (Target: "leaf", m.Kind, m.Der))
            .Concat(Mutants(ca.Certificate.RawData, random, 600).Select(m => (Target: "intermediate", m.Kind, m.Der)));
        foreach (var (target, kind, der) in mutants)
        {
            if (der.AsSpan().SequenceEqual(target == "leaf" ? leaf.RawData : ca.Certificate.RawData))
            {
                continue; // random bytes equal to the ones they replaced: not a mutant
            }

            tried++;
            X509Certificate2 loaded;
            try
            {
                loaded = X509CertificateLoader.LoadCertificate(der);
            }
            catch (CryptographicException)
            {
                unloadable++;
                continue;
            }

            var key = $"{target}/{kind}";
            byKind[key] = byKind.GetValueOrDefault(key) + 1;
            var s = target == "leaf" ? new Scenario(Url, loaded, [ca.Certificate], [_root.Certificate]) : new Scenario(Url, leaf, [loaded], [_root.Certificate]);
            var thrown = Validate(s);
            switch (thrown)
            {
                case null:
                    accepted.Add($"{key}: {Convert.ToHexString(der)}");
                    break;
                case MasterConnectionException mce:
                    Assert.False(string.IsNullOrWhiteSpace(mce.Message));
                    Assert.DoesNotContain("BEGIN", mce.Message, StringComparison.Ordinal);
                    byError[mce.Error] = byError.GetValueOrDefault(mce.Error) + 1;
                    break;
                default:
                    escaped.Add($"{key}: {(escaped.Count == 0 ? thrown.ToString() : thrown.GetType().FullName + ": " + thrown.Message)} | DER {Convert.ToHexString(der)}");
                    break;
            }
        }

        var loadedCount = tried - unloadable;
        _output.WriteLine($"{tried} mutants, {unloadable} failed to load, {loadedCount} validated, {accepted.Count} accepted, {escaped.Count} escaped");
        _output.WriteLine("validated by kind: " + string.Join(", ", byKind.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}")));
        _output.WriteLine("refused by class: " + string.Join(", ", byError.OrderBy(k => k.Key).Select(k => $"{k.Key}={k.Value}")));
        Assert.True(loadedCount >= 500, $"only {loadedCount} of {tried} mutants loaded");
        Assert.True(escaped.Count == 0, $"{escaped.Count} mutants escaped as another exception type:\n{string.Join("\n", escaped.Take(3))}");
        Assert.True(accepted.Count == 0, $"{accepted.Count} mutants (changed bytes under the original signature) were accepted:\n{string.Join("\n", accepted.Take(5))}");
    }

    [Theory]
    [InlineData("leaf")]
    [InlineData("intermediate")]
    public void ValidateCertificate_CertificateWithUnreadableNotAfter_ThrowsOnlyMasterConnectionException(string which)
    {
        // The first digit of notAfter (UTCTime "310101000000Z") with its high bit set: the loader accepts the
        // certificate, but X509Certificate2.NotAfter (and the platform's chain builder) throw CryptographicException.
        var leaf = Leaf();
        var s = which == "leaf"
            ? Chain(X509CertificateLoader.LoadCertificate(BreakNotAfter(leaf.RawData)))
            : new Scenario(Url, leaf, [X509CertificateLoader.LoadCertificate(BreakNotAfter(_intermediate.Certificate.RawData))], [_root.Certificate]);

        var thrown = Validate(s);

        Assert.True(thrown is MasterConnectionException, $"{which}: expected MasterConnectionException, got {thrown}");
    }

    [Fact]
    public void ValidateCertificate_HundredIntermediatesWithOneSubject_IsRefusedQuickly()
    {
        var sameName = Enumerable.Range(0, 100).Select(_ => TestCertificates.Issue(_root, Master.Authority("Same Name CA")).Certificate).ToArray();
        var hiddenIssuer = TestCertificates.Issue(_root, Master.Authority("Same Name CA"));
        var leaf = TestCertificates.Issue(hiddenIssuer, Master with { NoAuthorityKeyIdentifier = true }).Certificate;
        var s = new Scenario(Url, leaf, sameName, [_root.Certificate]);
        Assert.Null(Validate(s with { Intermediates = [hiddenIssuer.Certificate] }));

        var watch = Stopwatch.StartNew();
        var thrown = Validate(s);
        watch.Stop();

        _output.WriteLine($"100 intermediates with one subject, none the issuer: refused in {watch.Elapsed.TotalMilliseconds:F1} ms ({(thrown as MasterConnectionException)?.Error})");
        Assert.IsType<MasterConnectionException>(thrown);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public void ValidateCertificate_TwoThousandConstraintsAndTwoThousandNames_IsRefusedQuickly()
    {
        var names = Enumerable.Range(0, 2000).Select(i => $"n{i}.example.com").Append("master.example.com").ToArray();
        var ca = TestCertificates.Issue(_root, Master.Authority("Many Constraints CA") with { Extensions = [RawExtensions.NameConstraints(names, null)] });
        var leaf = TestCertificates.Issue(ca, Master with { Dns = names }).Certificate;
        var s = new Scenario(Url, leaf, [ca.Certificate], [_root.Certificate]);

        var watch = Stopwatch.StartNew();
        var thrown = Validate(s);
        watch.Stop();

        var ex = Assert.IsType<MasterConnectionException>(thrown);
        _output.WriteLine($"2001 constraints x 2001 names: refused in {watch.Elapsed.TotalMilliseconds:F1} ms ({string.Join(", ", ex.Errors)}): {ex.Message[..Math.Min(ex.Message.Length, 300)]}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Theory]
    [InlineData(250, true)] // 62 500 comparisons: within the profile's budget of 65 536
    [InlineData(300, false)] // 90 000: beyond it (and below OpenSSL's own limit of 2^20, so the profile decides)
    public void ValidateCertificate_NameConstraintComparisonBudget_RefusesBeyond65536(int count, bool accepted)
    {
        var names = Enumerable.Range(0, count - 1).Select(i => $"n{i}.example.com").Append("master.example.com").ToArray();
        var ca = TestCertificates.Issue(_root, Master.Authority("Budget CA") with { Extensions = [RawExtensions.NameConstraints(names, null)] });
        var s = new Scenario(Url, TestCertificates.Issue(ca, Master with { Dns = names }).Certificate, [ca.Certificate], [_root.Certificate]);

        if (accepted)
        {
            Assert.Null(Validate(s));
        }
        else
        {
            var ex = AssertRefused(s, MasterConnectionError.NameConstraintViolation, $"{count} x {count}");
            Assert.Contains($"needs {count * count} name-constraint comparisons", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ValidateCertificate_SeveralDefects_MessageHasPrimaryFirstOneFixAndPunctuatedAlsoSentences()
    {
        var leaf = Leaf(Master with
        {
            NewKey = () => TestKeys.Rsa(1024),
            Usages = [ClientAuth],
            Dns = ["other.example.com"],
            NotAfter = Clock.AddDays(-1),
        });
        var s = Chain(leaf);

        var ex = AssertRefused(s, MasterConnectionError.Expired, "several defects");
        _output.WriteLine(ex.Message);

        Assert.Equal(ex.Error, ex.Errors[0]);
        Assert.Equal(ex.Errors.Count, ex.Errors.Distinct().Count());
        Assert.Contains(MasterConnectionError.WrongKeyUsage, ex.Errors);
        Assert.Contains(MasterConnectionError.WeakKey, ex.Errors);
        Assert.Contains(MasterConnectionError.NameMismatch, ex.Errors);
        var message = ex.Message;
        Assert.Equal(1, Occurrences(message, "Fix:"));
        Assert.Equal(1, Occurrences(message, "Also:"));
        Assert.DoesNotContain("BEGIN", message, StringComparison.Ordinal);
        var also = message.IndexOf("Also:", StringComparison.Ordinal);
        var end = message.IndexOf(" Presented:", also, StringComparison.Ordinal);
        Assert.True(also < message.IndexOf("Fix:", StringComparison.Ordinal), "the Also: sentences come before the Fix:");
        Assert.True(end > also, "the presented certificate follows the Also: sentences");
        var sentences = System.Text.RegularExpressions.Regex.Split(message[(also + "Also:".Length)..end].Trim(), @"(?<=\.) (?=[A-Z])");
        Assert.True(sentences.Length >= ex.Errors.Count - 1, $"{sentences.Length} Also: sentences for {ex.Errors.Count} classes: {message}");
        foreach (var sentence in sentences)
        {
            Assert.True(sentence.EndsWith('.') && !sentence.EndsWith("..", StringComparison.Ordinal), $"'{sentence}' does not end with one period");
            Assert.True(char.IsUpper(sentence[0]), $"'{sentence}' does not start with a capital");
        }

        Assert.EndsWith(ex.SuggestedFix, message, StringComparison.Ordinal);
    }

    // ---- Scenarios ----

    private Scenario Build(string scenario)
    {
        switch (scenario)
        {
            case "baseline":
            case "clock/chain-valid-only-in-2030":
                return Chain(Leaf());

            // 1. End-entity.
            case "end-entity/pinned-self-signed-ca-with-san":
                var self = TestCertificates.Issue(null, Master with { IsCa = true, KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature }).Certificate;
                return new Scenario(Url, self, [], [self]);
            case "end-entity/pinned-self-issued-ca-signed-by-another-key":
            {
                // Subject = issuer = CN=master.example.com, CA:TRUE with the master's SAN, but signed by another key: it
                // looks like the pinned self-signed master, yet the platform cannot verify it as a root. Refused.
                var signer = TestCertificates.Issue(null, Master.Authority("master.example.com"));
                var impostor = TestCertificates.Issue(signer, Master with { IsCa = true, KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature }).Certificate;
                return new Scenario(Url, impostor, [], [impostor]);
            }

            case "end-entity/no-eku":
                return Chain(Leaf(Master with { Usages = null }));
            case "end-entity/key-usage-key-agreement-only":
                return Chain(Leaf(Master with { KeyUsage = X509KeyUsageFlags.KeyAgreement }));
            case "end-entity/ca-leaf-issued-by-ca-with-san":
                return Chain(Leaf(Master with { IsCa = true, KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature }));
            case "end-entity/key-usage-without-tls-bits":
                return Chain(Leaf(Master with { KeyUsage = X509KeyUsageFlags.NonRepudiation | X509KeyUsageFlags.DataEncipherment }));
            case "end-entity/non-ca-with-key-cert-sign":
                return Chain(Leaf(Master with { KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign }));
            case "end-entity/eku-client-auth-only":
                return Chain(Leaf(Master with { Usages = [ClientAuth] }));
            case "end-entity/eku-any-only":
                return Chain(Leaf(Master with { Usages = [AnyExtendedKeyUsage] }));
            case "end-entity/eku-server-auth-and-any":
                return Chain(Leaf(Master with { Usages = [ServerAuth, AnyExtendedKeyUsage] }));
            case "end-entity/intermediate-eku-server-auth":
                return Under(TestCertificates.Issue(_root, Master.Authority("Server Auth CA") with { Usages = [ServerAuth] }), Master);
            case "end-entity/intermediate-eku-client-auth-only":
                return Under(TestCertificates.Issue(_root, Master.Authority("Client Auth CA") with { Usages = [ClientAuth] }), Master);

            // 2. Keys and signatures on every certificate.
            case "keys/rsa-2048-intermediate":
                return Under(TestCertificates.Issue(_root, Master.Authority("RSA 2048 Intermediate") with { NewKey = () => TestKeys.Rsa(2048) }), Master);
            case "keys/rsa-1024-intermediate":
                return Under(TestCertificates.Issue(_root, Master.Authority("RSA 1024 Intermediate") with { NewKey = () => TestKeys.Rsa(1024) }), Master);
            case "keys/rsa-2048-leaf":
                return Chain(Leaf(Master with { NewKey = () => TestKeys.Rsa(2048) }));
            case "keys/rsa-1024-leaf":
                return Chain(Leaf(Master with { NewKey = () => TestKeys.Rsa(1024) }));
            case "keys/p384-leaf":
                return Chain(Leaf(Master with { NewKey = () => TestKeys.Ec(ECCurve.NamedCurves.nistP384) }));
            case "keys/p192-leaf":
                // OpenSSL here generates no P-192 key; the leaf's key signs nothing, so a valid point is enough: G of P-192.
                return Chain(Leaf(Master with { PublicKey = () => EcPublicKey("1.2.840.10045.3.1.1", "188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012", "07192B95FFC8DA78631011ED6B24CDD573F977A11E794811") }));
            case "keys/explicit-curve-leaf":
            {
                using var named = TestKeys.EcP256();
                return Chain(Leaf(Master with { NewKey = () => ECDsa.Create(named.ExportExplicitParameters(false)) }));
            }

            case "keys/dsa-leaf":
                return Chain(Leaf(Master with { NewKey = () => DSA.Create(2048) }));
            case "signatures/sha256-signed-intermediate-under-rsa-root":
            case "signatures/sha1-signed-intermediate":
            {
                var rsaRoot = TestCertificates.Issue(null, Master.Authority("RSA Root") with { NewKey = () => TestKeys.Rsa(2048) });
                var ca = TestCertificates.Issue(rsaRoot, Master.Authority("RSA Intermediate") with { SignWithSha1 = scenario.Contains("sha1", StringComparison.Ordinal) });
                return new Scenario(Url, TestCertificates.Issue(ca, Master).Certificate, [ca.Certificate], [rsaRoot.Certificate]);
            }

            case "signatures/sha1-signed-leaf":
            {
                var rsaRoot = TestCertificates.Issue(null, Master.Authority("RSA Root") with { NewKey = () => TestKeys.Rsa(2048) });
                var ca = TestCertificates.Issue(rsaRoot, Master.Authority("RSA Intermediate") with { NewKey = () => TestKeys.Rsa(2048) });
                return new Scenario(Url, TestCertificates.Issue(ca, Master with { SignWithSha1 = true }).Certificate, [ca.Certificate], [rsaRoot.Certificate]);
            }

            case "signatures/sha1-self-signed-pinned-root":
            {
                var sha1Root = TestCertificates.Issue(null, Master.Authority("SHA-1 Root") with { NewKey = () => TestKeys.Rsa(2048), SignWithSha1 = true });
                return new Scenario(Url, TestCertificates.Issue(sha1Root, Master).Certificate, [], [sha1Root.Certificate]);
            }

            // 3. Names.
            case "names/underscore-dns-san":
                // An invalid DNS name never matches: not even the URL host it spells with a hyphen.
                return Chain(Leaf(Master with { Dns = ["master_.example.com", "foo_bar.example.com"] }), "https://master-.example.com:8443");
            case "names/invalid-dns-names-next-to-the-valid-one":
                // As OpenSSL, Go and browsers: names that are not host names are skipped, not a reason to refuse.
                return Chain(Leaf(Master with { Dns = ["det_master.internal", "*", "my host", "master.example.com"] }));
            case "name-constraints/ipv4-mapped-address-under-ipv4-exclusion":
                // ::ffff:10.0.0.5 reaches 10.0.0.5: an IPv4 exclusion must catch it.
                return Constrained(RawExtensions.NameConstraints(null, ["10.0.0.0/8"]), [], "https://[::ffff:10.0.0.5]:8443", ["::ffff:10.0.0.5"]);
            case "name-constraints/invalid-dns-name-under-constraint":
                return Constrained(RawExtensions.NameConstraints(["example.com"], null), ["foo.example.com", ".example.com"], "https://foo.example.com:8443");
            case "names/wildcard-com":
                return Chain(Leaf(Master with { Dns = ["*.com"] }), "https://example.com:8443");
            case "names/wildcard-co-uk":
                return Chain(Leaf(Master with { Dns = ["*.co.uk"] }), "https://example.co.uk:8443");
            case "names/wildcard-s3-amazonaws-com":
                return Chain(Leaf(Master with { Dns = ["*.s3.amazonaws.com"] }), "https://bucket.s3.amazonaws.com:8443");
            case "names/wildcard-one-label":
                return Chain(Leaf(Master with { Dns = ["*.example.com"] }), "https://a.example.com:8443");
            case "names/wildcard-two-labels-below":
                return Chain(Leaf(Master with { Dns = ["*.example.com"] }), "https://a.b.example.com:8443");
            case "names/wildcard-base-name":
                return Chain(Leaf(Master with { Dns = ["*.example.com"] }), "https://example.com:8443");
            case "names/ipv6-url-ip-san":
                return Chain(Leaf(Master with { Dns = [], Ips = ["::1"] }), "https://[::1]:8443");
            case "names/ipv6-url-other-ip-san":
                return Chain(Leaf(Master with { Dns = [], Ips = ["::2", "127.0.0.1"] }), "https://[::1]:8443");
            case "names/ipv4-url-ip-san":
                return Chain(Leaf(Master with { Dns = [], Ips = ["127.0.0.1"] }), "https://127.0.0.1:8443");
            case "names/ipv4-url-dns-san-with-address":
                return Chain(Leaf(Master with { Dns = ["127.0.0.1"] }), "https://127.0.0.1:8443");
            case "names/cn-only":
                return Chain(Leaf(Master with { Subject = "CN=master.example.com", Dns = [] }));

            // 4. Name constraints on a CA.
            case "name-constraints/permitted-domain":
                return Constrained(RawExtensions.NameConstraints(["example.com"], null), ["foo.example.com"], "https://foo.example.com:8443");
            case "name-constraints/excluded-other-name":
                return Constrained(RawExtensions.NameConstraints(null, ["bar.example.com"]), ["foo.example.com"], "https://foo.example.com:8443");
            case "name-constraints/excluded-name-under-wildcard":
                return Constrained(RawExtensions.NameConstraints(null, ["bar.example.com"]), ["*.example.com"], "https://foo.example.com:8443");
            case "name-constraints/permitted-narrower-than-wildcard":
                return Constrained(RawExtensions.NameConstraints(["foo.example.com"], null), ["*.example.com"], "https://foo.example.com:8443");
            case "name-constraints/not-critical":
                return Constrained(RawExtensions.NameConstraints(["example.com"], null, critical: false), ["foo.example.com"], "https://foo.example.com:8443");
            case "name-constraints/in-non-ca-leaf":
                return Chain(Leaf(Master with { Extensions = [RawExtensions.NameConstraints(["example.com"], null)] }));
            case "name-constraints/neither-subtree":
                return Constrained(RawExtensions.NameConstraints(null, null), ["foo.example.com"], "https://foo.example.com:8443");
            case "name-constraints/empty-permitted-subtree":
                return Constrained(RawExtensions.NameConstraints([], null), ["foo.example.com"], "https://foo.example.com:8443");
            case "name-constraints/leading-period":
                return Constrained(RawExtensions.NameConstraints([".example.com"], null), ["foo.example.com"], "https://foo.example.com:8443");
            case "name-constraints/ip-permitted":
                return Constrained(RawExtensions.NameConstraints(["10.0.0.0/8"], null), [], "https://10.1.2.3:8443", ["10.1.2.3"]);
            case "name-constraints/ip-outside-permitted":
                return Constrained(RawExtensions.NameConstraints(["10.0.0.0/8"], null), [], "https://192.168.1.1:8443", ["192.168.1.1"]);

            // 5. Clock: the resolver's (2030-06-01), bounds inclusive at whole seconds.
            case "clock/leaf-not-after-equals-clock":
                return Chain(Leaf(Master with { NotAfter = Clock }));
            case "clock/leaf-not-before-equals-clock":
                return Chain(Leaf(Master with { NotBefore = Clock }));
            case "clock/intermediate-not-after-equals-clock":
                return Under(TestCertificates.Issue(_root, Master.Authority("Intermediate Ending Now") with { NotAfter = Clock }), Master);
            case "clock/leaf-expired-one-second-before-clock":
                return Chain(Leaf(Master with { NotAfter = Clock.AddSeconds(-1) }));
            case "clock/leaf-valid-one-second-after-clock":
                return Chain(Leaf(Master with { NotBefore = Clock.AddSeconds(1) }));
            case "clock/intermediate-expired":
                return Under(TestCertificates.Issue(_root, Master.Authority("Expired Intermediate") with { NotAfter = Clock.AddSeconds(-1) }), Master);
            case "clock/intermediate-not-yet-valid":
                return Under(TestCertificates.Issue(_root, Master.Authority("Future Intermediate") with { NotBefore = Clock.AddSeconds(1) }), Master);

            // 6. Partial chains.
            case "partial-chain/pinned-intermediate":
                return new Scenario(Url, Leaf(), [_intermediate.Certificate], [_intermediate.Certificate]);
            case "partial-chain/pinned-intermediate-leaf-sent-alone":
                return new Scenario(Url, Leaf(), [], [_intermediate.Certificate]);
            case "partial-chain/pinned-root-with-foreign-authority-key-id":
            {
                var foreign = X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(RandomNumberGenerator.GetBytes(20));
                var root = TestCertificates.Issue(null, Master.Authority("Root With Foreign Key Id") with { AuthorityKeyIdentifier = foreign });
                return new Scenario(Url, TestCertificates.Issue(root, Master).Certificate, [], [root.Certificate]);
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(scenario), scenario, null);
        }
    }

    private X509Certificate2 Leaf(TestCertificates.CertificateSpec? spec = null) => TestCertificates.Issue(_intermediate, spec ?? Master).Certificate;

    private Scenario Chain(X509Certificate2 leaf, string url = Url) => new(url, leaf, [_intermediate.Certificate], [_root.Certificate]);

    private Scenario Under(TestCertificates.Issued ca, TestCertificates.CertificateSpec leaf) => new(Url, TestCertificates.Issue(ca, leaf).Certificate, [ca.Certificate], [_root.Certificate]);

    private Scenario Constrained(X509Extension nameConstraints, string[] dns, string url, string[]? ips = null)
    {
        var ca = TestCertificates.Issue(_root, Master.Authority("Constrained CA") with { Extensions = [nameConstraints] });
        return new Scenario(url, TestCertificates.Issue(ca, Master with { Dns = dns, Ips = ips ?? [] }).Certificate, [ca.Certificate], [_root.Certificate]);
    }

    // ---- Validation ----

    private static TlsPolicy Policy(X509Certificate2[] pinned) =>
        TlsPolicy.Create(new TlsOptions { MasterCertificatePem = TestCertificates.Pem(pinned), TrustMode = MasterTrustMode.PinnedOnly });

    private static Exception? Validate(Scenario s, DateTimeOffset? clock = null)
    {
        var resolver = new CertificateTrustResolver(Policy(s.Pinned), null, new FakeTimeProvider(clock ?? Clock));
        return Record.Exception(() => resolver.ValidateCertificate(new Uri(s.Url), s.Leaf, [.. s.Intermediates]));
    }

    private static MasterConnectionException AssertRefused(Scenario s, MasterConnectionError expected, string what, DateTimeOffset? clock = null)
    {
        var thrown = Validate(s, clock);
        Assert.True(thrown is not null, $"{what}: accepted, but {expected} was expected");
        Assert.True(thrown is MasterConnectionException, $"{what}: threw {thrown}");
        var ex = (MasterConnectionException)thrown;
        Assert.True(ex.Error == expected, $"{what}: expected {expected}, got {ex.Error} (all: {string.Join(", ", ex.Errors)}): {ex.Message}");
        Assert.Equal(ex.Error, ex.Errors[0]);
        return ex;
    }

    private static byte[] BreakNotAfter(byte[] der)
    {
        var copy = (byte[])der.Clone();
        var notAfter = copy.AsSpan().IndexOf("\u0017\u000d310101000000Z"u8);
        Assert.True(notAfter > 0, "notAfter 2031-01-01 not found");
        copy[notAfter + 2] |= 0x80;
        return copy;
    }

    private static int Occurrences(string text, string value)
    {
        var count = 0;
        for (var i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    // ---- Mutation ----

    /// <summary>Mutants of one certificate: bit flips, truncations, length bytes, random bytes, and re-encoded extensions.</summary>
    private static IEnumerable<(string Kind, byte[] Der)> Mutants(byte[] der, Random random, int count)
    {
        var lengths = LengthOffsets(der);
        var (tbsHead, extensions, signatureAlgorithm, signature) = Split(der);
        for (var e = 0; e < extensions.Count; e++)
        {
            yield return ("duplicate-extension", Join(tbsHead, [.. extensions, extensions[e]], signatureAlgorithm, signature));
            yield return ("duplicate-extension-adjacent", Join(tbsHead, [.. extensions[..(e + 1)], extensions[e], .. extensions[(e + 1)..]], signatureAlgorithm, signature));
        }

        for (var i = 0; i < count; i++)
        {
            var bytes = (byte[])der.Clone();
            switch (random.Next(8))
            {
                case 0:
                    for (var n = random.Next(1, 4); n > 0; n--)
                    {
                        bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    }

                    yield return ("bit-flip", bytes);
                    break;
                case 1:
                    yield return ("truncation", bytes[..random.Next(bytes.Length)]);
                    break;
                case 2:
                    var at = lengths[random.Next(lengths.Count)];
                    bytes[at] = random.Next(5) switch
                    {
                        0 => (byte)(bytes[at] + 1),
                        1 => (byte)(bytes[at] - 1),
                        2 => 0x80,
                        3 => 0xFF,
                        _ => (byte)random.Next(256),
                    };
                    yield return ("length-byte", bytes);
                    break;
                case 3:
                    var start = random.Next(bytes.Length);
                    var span = bytes.AsSpan(start, Math.Min(random.Next(1, 17), bytes.Length - start));
                    random.NextBytes(span);
                    yield return ("random-bytes", bytes);
                    break;
                case 4:
                    var where = random.Next(bytes.Length);
                    yield return random.Next(2) == 0
                        ? ("insert-byte", [.. bytes[..where], (byte)random.Next(256), .. bytes[where..]])
                        : ("delete-byte", [.. bytes[..where], .. bytes[(where + 1)..]]);
                    break;
                default:
                    // A structurally valid certificate whose extension value is garbage, truncated or bit-flipped: the
                    // loader accepts it and the profile's own DER reader has to cope.
                    var index = random.Next(extensions.Count);
                    var (oid, critical, value) = ReadExtension(extensions[index]);
                    var changed = random.Next(4) switch
                    {
                        0 => RandomBytes(random, random.Next(0, 24)),
                        1 => value[..random.Next(value.Length)],
                        2 => FlipOneBit(value, random),
                        _ => [.. value, (byte)random.Next(256)],
                    };
                    var replaced = extensions.ToList();
                    replaced[index] = WriteExtension(oid, critical || random.Next(4) == 0, changed);
                    yield return ("extension-value", Join(tbsHead, replaced, signatureAlgorithm, signature));
                    break;
            }
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] FlipOneBit(byte[] value, Random random)
    {
        var copy = (byte[])value.Clone();
        if (copy.Length > 0)
        {
            copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        }

        return copy;
    }

    /// <summary>The offsets of the first length byte of every TLV in the certificate (walked recursively).</summary>
    private static List<int> LengthOffsets(byte[] der)
    {
        var offsets = new List<int>();
        Walk(der, 0, der.Length);
        return offsets;

        void Walk(byte[] data, int from, int to)
        {
            var position = from;
            while (position < to)
            {
                if (!AsnDecoder.TryReadEncodedValue(data.AsSpan(position, to - position), AsnEncodingRules.DER, out var tag, out var contentOffset, out var contentLength, out var consumed))
                {
                    return;
                }

                offsets.Add(position + 1);
                if (tag.IsConstructed)
                {
                    Walk(data, position + contentOffset, position + contentOffset + contentLength);
                }

                position += consumed;
            }
        }
    }

    /// <summary>A certificate as the TBS fields before the extensions, the extensions, and the outer signature parts.</summary>
    private static (List<byte[]> TbsHead, List<byte[]> Extensions, byte[] SignatureAlgorithm, byte[] Signature) Split(byte[] der)
    {
        var certificate = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbs = certificate.ReadSequence();
        var signatureAlgorithm = certificate.ReadEncodedValue().ToArray();
        var signature = certificate.ReadEncodedValue().ToArray();
        var head = new List<byte[]>();
        var extensions = new List<byte[]>();
        while (tbs.HasData)
        {
            if (tbs.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 3)))
            {
                var list = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 3)).ReadSequence();
                while (list.HasData)
                {
                    extensions.Add(list.ReadEncodedValue().ToArray());
                }
            }
            else
            {
                head.Add(tbs.ReadEncodedValue().ToArray());
            }
        }

        return (head, extensions, signatureAlgorithm, signature);
    }

    private static byte[] Join(List<byte[]> tbsHead, List<byte[]> extensions, byte[] signatureAlgorithm, byte[] signature)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                foreach (var field in tbsHead)
                {
                    writer.WriteEncodedValue(field);
                }

                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3)))
                using (writer.PushSequence())
                {
                    foreach (var extension in extensions)
                    {
                        writer.WriteEncodedValue(extension);
                    }
                }
            }

            writer.WriteEncodedValue(signatureAlgorithm);
            writer.WriteEncodedValue(signature);
        }

        return writer.Encode();
    }

    private static (string Oid, bool Critical, byte[] Value) ReadExtension(byte[] extension)
    {
        var reader = new AsnReader(extension, AsnEncodingRules.DER).ReadSequence();
        var oid = reader.ReadObjectIdentifier();
        var critical = reader.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && reader.ReadBoolean();
        return (oid, critical, reader.ReadOctetString());
    }

    private static byte[] WriteExtension(string oid, bool critical, byte[] value)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (critical)
            {
                writer.WriteBoolean(true);
            }

            writer.WriteOctetString(value);
        }

        return writer.Encode();
    }

    // ---- Certificates ----

    /// <summary>An id-ecPublicKey SubjectPublicKeyInfo on a named curve with the uncompressed point (x, y).</summary>
    private static PublicKey EcPublicKey(string curveOid, string x, string y)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier("1.2.840.10045.2.1");
                writer.WriteObjectIdentifier(curveOid);
            }

            writer.WriteBitString([0x04, .. Convert.FromHexString(x), .. Convert.FromHexString(y)]);
        }

        return PublicKey.CreateFromSubjectPublicKeyInfo(writer.Encode(), out _);
    }

    private sealed record Scenario(string Url, X509Certificate2 Leaf, X509Certificate2[] Intermediates, X509Certificate2[] Pinned);
}
