using System.Security.Cryptography.X509Certificates;
using System.Text;
using Determined.Testing;
using static Determined.Security.Tests.RawExtensions;

namespace Determined.Security.Tests.Verification;

/// <summary>
/// Every rule of the server-certificate profile on both sides of its boundary, on certificates written field by field
/// (<see cref="RawCertificate"/>): what passes, what fails, and the exact sentence and fix each failure produces. The
/// problems of every case are compared with <c>Approved/server-certificate-profile.txt</c>, which doubles as the
/// catalogue of the profile's messages; cases named <c>passes/</c> must produce none and <c>fails/</c> at least one.
/// </summary>
public sealed class ServerCertificateProfileRuleTests
{
    private const string Host = "master.example.com";
    private const string AnyEku = "2.5.29.37.0";

    private static readonly DateTimeOffset Clock = new(2030, 6, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly RawCertificate Root = RawCertificate.Authority("CN=Raw Root", "CN=Raw Root");
    private static readonly RawCertificate Intermediate = RawCertificate.Authority("CN=Raw Intermediate", "CN=Raw Root");
    private static readonly RawCertificate Leaf = RawCertificate.Server(Host);

    private static readonly RawCertificate SelfSignedCaLeaf = Leaf with
    {
        Issuer = "CN=master.example.com",
        Extensions = [BasicConstraints(true), KeyUsage(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature), San([Host])],
    };

    [Fact]
    public void EveryRule_BothSidesOfItsBoundary_MatchTheApprovedCatalogue()
    {
        var text = new StringBuilder();
        var wrong = new List<string>();
        foreach (var c in Cases())
        {
            var problems = Check(c);
            text.Append("== ").Append(c.Name).Append('\n');
            foreach (var p in problems)
            {
                text.Append(p.Error).Append(" | ").Append(p.Detail).Append(" | ").Append(p.Fix).Append('\n');
            }

            if (problems.Count == 0)
            {
                text.Append("(no problem)\n");
            }

            if (c.Name.StartsWith("passes/", StringComparison.Ordinal) != (problems.Count == 0))
            {
                wrong.Add($"{c.Name}: {problems.Count} problem(s): {string.Join("; ", problems.Select(p => p.Error + ": " + p.Detail))}");
            }
        }

        Assert.True(wrong.Count == 0, "verdicts contradict the case names:\n" + string.Join("\n", wrong));
        ApprovedText.Verify("Determined.Security.Tests", "server-certificate-profile.txt", ApprovedText.Normalize(text.ToString()));
    }

    [Fact]
    public void CaseNames_AreUnique()
    {
        var names = Cases().Select(c => c.Name).ToList();

        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
    }

    private static List<CertificateProblem> Check(ProfileCase c)
    {
        var path = c.Path.Select(p => p.Load()).ToList();
        var facts = c.Path.Select(p => CertificateFacts.Read(p.Encode())).ToList();
        var problems = new List<CertificateProblem>();
        ServerCertificateProfile.Check(path, facts, c.Anchored, c.Host, c.Now ?? Clock, problems);
        return problems;
    }

    private static ProfileCase Chain(string name, RawCertificate? leaf = null, RawCertificate? intermediate = null, RawCertificate? root = null, string host = Host, DateTimeOffset? now = null) =>
        new(name, [leaf ?? Leaf, intermediate ?? Intermediate, root ?? Root], true, host, now);

    private static ProfileCase Constrained(string name, X509Extension constraints, string[] dns, string[]? ips = null, string host = Host) =>
        Chain(name, Leaf.With(San(dns, ips)), Intermediate.With(constraints), host: host);

    private static IEnumerable<ProfileCase> Cases()
    {
        // The clock: whole seconds, bounds inclusive.
        yield return Chain("passes/baseline");
        yield return Chain("passes/clock/half-a-second-after-not-after", now: RawCertificate.DefaultNotAfter.AddMilliseconds(500));
        yield return Chain("fails/clock/one-second-after-not-after", now: RawCertificate.DefaultNotAfter.AddSeconds(1));
        yield return Chain("fails/clock/half-a-second-before-not-before", now: RawCertificate.DefaultNotBefore.AddMilliseconds(-500));
        yield return Chain("fails/clock/intermediate-expired", intermediate: Intermediate with { NotAfter = Clock.AddSeconds(-1) });
        yield return Chain("fails/clock/intermediate-not-yet-valid", intermediate: Intermediate with { NotBefore = Clock.AddSeconds(1) });

        // A self-signed CA certificate may be the server's own ('openssl req -x509' makes them): pinned it is the anchor;
        // not pinned, the anchor rules refuse it as an untrusted root (the class trust on first use offers to pin), never
        // as a CA presented as a server. Nowhere else is a CA a server.
        yield return new("passes/leaf-anchor/pinned-self-signed-ca", [SelfSignedCaLeaf], true, Host, null);
        yield return new("passes/leaf-anchor/pinned-self-signed-ca-with-server-and-any-eku", [SelfSignedCaLeaf.With(Eku(TestCertificates.ServerAuth, AnyEku))], true, Host, null);
        yield return new("passes/leaf-anchor/self-signed-ca-not-anchored-is-left-to-the-anchor-rules", [SelfSignedCaLeaf], false, Host, null);
        yield return new("fails/leaf-anchor/self-signed-ca-below-a-root", [SelfSignedCaLeaf, Root], true, Host, null);
        yield return new("fails/leaf-anchor/pinned-ca-not-self-issued", [SelfSignedCaLeaf with { Issuer = "CN=Raw Intermediate" }], true, Host, null);

        // A malformed certificate is reported once, and nothing else is judged from its bytes.
        var duplicated = Leaf with
        {
            NotAfter = Clock.AddDays(-1),
            Extensions = [BasicConstraints(false), San(["evil.example.org"]), BasicConstraints(false)],
        };
        yield return Chain("fails/malformed/duplicate-extension-expired-outside-constraints", duplicated, Intermediate.With(NameConstraints(["example.com"], null)));
        yield return Chain("fails/malformed/intermediate-duplicate-extension", intermediate: Intermediate with { Extensions = [.. Intermediate.Extensions, BasicConstraints(true)] });

        // Keys and signatures.
        yield return Chain("fails/keys/rsa-1024-leaf", Leaf with { PublicKey = RawCertificate.Rsa1024PublicKey });
        yield return Chain("fails/keys/rsa-1024-intermediate", intermediate: Intermediate with { PublicKey = RawCertificate.Rsa1024PublicKey });
        foreach (var (oid, what) in new[]
        {
            ("1.2.840.113549.1.1.2", "md2-rsa"), ("1.2.840.113549.1.1.3", "md4-rsa"), ("1.2.840.113549.1.1.4", "md5-rsa"),
            ("1.2.840.113549.1.1.5", "sha1-rsa"), ("1.3.14.3.2.29", "sha1-rsa-oiw"), ("1.2.840.10045.4.1", "ecdsa-sha1"),
            ("1.2.840.10040.4.3", "dsa-sha1"), ("2.16.840.1.101.3.4.3.1", "dsa-sha224"), ("2.16.840.1.101.3.4.3.2", "dsa-sha256"),
            ("2.16.840.1.101.3.4.3.3", "dsa-sha384"), ("2.16.840.1.101.3.4.3.4", "dsa-sha512"),
        })
        {
            yield return Chain($"fails/signatures/leaf-{what}", Leaf with { SignatureOid = oid });
        }

        yield return Chain("fails/signatures/intermediate-md5-rsa", intermediate: Intermediate with { SignatureOid = "1.2.840.113549.1.1.4" });
        yield return Chain("passes/signatures/anchor-md5-rsa", root: Root with { SignatureOid = "1.2.840.113549.1.1.4" });
        yield return Chain("passes/signatures/leaf-sha256-rsa", Leaf with { SignatureOid = "1.2.840.113549.1.1.11" });
        yield return Chain("passes/signatures/leaf-ecdsa-sha384", Leaf with { SignatureOid = "1.2.840.10045.4.3.3" });

        // Serial numbers (RFC 5280 4.1.2.2): positive, at most 20 octets.
        yield return Chain("passes/serial/20-bytes", Leaf with { Serial = [0x7F, .. Enumerable.Repeat((byte)0x01, 19)] });
        yield return Chain("passes/serial/leading-zero-before-high-bit", Leaf with { Serial = [0x00, 0x80] });
        yield return Chain("fails/serial/21-bytes", Leaf with { Serial = [0x7F, .. Enumerable.Repeat((byte)0x01, 20)] });
        yield return Chain("fails/serial/empty", Leaf with { Serial = [] });
        yield return Chain("fails/serial/negative", Leaf with { Serial = [0x80, 0x01] });
        yield return Chain("fails/serial/zero", Leaf with { Serial = [0x00] });
        yield return Chain("fails/serial/zero-in-two-bytes", Leaf with { Serial = [0x00, 0x00] });
        yield return Chain("fails/serial/zero-on-intermediate", intermediate: Intermediate with { Serial = [0x00] });
        yield return Chain("passes/serial/zero-on-anchor", root: Root with { Serial = [0x00] });

        // An anchor's authority key identifier must be able to name its own key.
        yield return Chain("fails/aki/self-signed-anchor-without-key-id", root: Root.With(AuthorityKeyIdWithoutKeyId("CN=Raw Root")));
        yield return new("passes/aki/pinned-intermediate-anchor-without-key-id", [Leaf, Intermediate.With(AuthorityKeyIdWithoutKeyId("CN=Raw Root"))], true, Host, null);
        yield return new("passes/aki/self-signed-root-without-key-id-not-anchored", [Leaf, Intermediate, Root.With(AuthorityKeyIdWithoutKeyId("CN=Raw Root"))], false, Host, null);

        // The server certificate: usages, constraints, subject.
        yield return Chain("fails/leaf/key-usage-without-tls-bits", Leaf.With(KeyUsage(X509KeyUsageFlags.NonRepudiation | X509KeyUsageFlags.DataEncipherment)));
        yield return Chain("passes/leaf/key-usage-key-agreement-only", Leaf.With(KeyUsage(X509KeyUsageFlags.KeyAgreement)));
        yield return Chain("passes/leaf/key-usage-key-encipherment-only", Leaf.With(KeyUsage(X509KeyUsageFlags.KeyEncipherment)));
        yield return Chain("fails/leaf/non-ca-key-cert-sign", Leaf.With(KeyUsage(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign)));
        yield return Chain("fails/leaf/non-ca-crl-sign", Leaf.With(KeyUsage(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.CrlSign)));
        yield return Chain("passes/leaf/no-key-usage", Leaf.Without("2.5.29.15"));
        yield return Chain("passes/leaf/no-eku", Leaf.Without("2.5.29.37"));
        yield return Chain("fails/leaf/eku-server-auth-and-any", Leaf.With(Eku(TestCertificates.ServerAuth, AnyEku)));
        yield return Chain("fails/leaf/eku-any-only", Leaf.With(Eku(AnyEku)));
        yield return Chain("fails/leaf/eku-client-auth-and-any", Leaf.With(Eku(TestCertificates.ClientAuth, AnyEku)));
        yield return Chain("fails/leaf/eku-client-auth-only", Leaf.With(Eku(TestCertificates.ClientAuth)));
        yield return Chain("fails/leaf/name-constraints-in-a-non-ca", Leaf.With(NameConstraints(["example.com"], null)));
        yield return Chain("passes/leaf/empty-subject-critical-san", Leaf with { Subject = string.Empty, Extensions = [.. Leaf.Extensions.Where(e => e.Oid!.Value != "2.5.29.17"), San([Host], critical: true)] });
        yield return Chain("fails/leaf/empty-subject-non-critical-san", Leaf with { Subject = string.Empty });
        yield return Chain("fails/leaf/empty-subject-no-san", Leaf.Without("2.5.29.17") with { Subject = string.Empty });

        // Names.
        yield return Chain("fails/names/verified-name-not-a-host-name", host: "bad_name.example.com");
        yield return Chain("fails/names/verified-name-a-wildcard", Leaf.With(San(["*.example.com"])), host: "*.example.com");
        yield return Chain("passes/names/ip-san", Leaf.With(San([], ["10.0.0.1"])), host: "10.0.0.1");
        yield return Chain("passes/names/ipv6-san", Leaf.With(San([], ["::1"])), host: "[::1]");
        yield return Chain("fails/names/ip-not-among-the-names", Leaf.With(San(["a.example.com"], ["10.0.0.1", "::1"])), host: "10.0.0.2");
        yield return Chain("passes/names/wildcard", Leaf.With(San(["*.example.com"])));
        yield return Chain("passes/names/invalid-name-before-the-valid-one", Leaf.With(San(["bad_name", "*", Host])));
        yield return Chain("fails/names/public-suffix-wildcard-named-first", Leaf.With(San(["*.com", "*.co.uk", "bar.example.org"])), host: "foo.com");
        yield return Chain("fails/names/other-names-listed-first-plain-one-suggested", Leaf.With(San(["*.example.org", "b.example.org", "bad_name"], ["10.0.0.1"])));
        yield return Chain("fails/names/only-wildcards", Leaf.With(San(["*.example.org"])));
        yield return Chain("fails/names/no-subject-alternative-name", Leaf.Without("2.5.29.17"));

        // CA certificates.
        var v1Root = Root with { Version = null, Extensions = [] };
        yield return Chain("passes/authority/v1-self-signed-anchor", root: v1Root);
        yield return Chain("fails/authority/v1-intermediate", intermediate: Intermediate with { Version = null, Extensions = [] });
        yield return new("fails/authority/v1-pinned-intermediate-anchor", [Leaf, Intermediate with { Version = null, Extensions = [] }], true, Host, null);
        yield return new("fails/authority/v1-self-signed-root-not-anchored", [Leaf, Intermediate, v1Root], false, Host, null);
        yield return Chain("fails/authority/v3-anchor-without-basic-constraints", root: Root.Without("2.5.29.19"));
        yield return Chain("fails/authority/ca-false", intermediate: Intermediate.With(BasicConstraints(false)));
        yield return Chain("fails/authority/key-usage-without-cert-sign", intermediate: Intermediate.With(KeyUsage(X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature)));
        yield return Chain("fails/authority/anchor-key-usage-without-cert-sign", root: Root.With(KeyUsage(X509KeyUsageFlags.CrlSign)));
        yield return Chain("passes/authority/key-usage-cert-sign-only", intermediate: Intermediate.With(KeyUsage(X509KeyUsageFlags.KeyCertSign)));
        yield return Chain("fails/authority/empty-subject", intermediate: Intermediate with { Subject = string.Empty });
        yield return Chain("fails/authority/policy-constraints-not-critical", intermediate: Intermediate.With(PolicyConstraints(critical: false)));
        yield return Chain("passes/authority/policy-constraints-critical", intermediate: Intermediate.With(PolicyConstraints(critical: true)));
        yield return Chain("fails/authority/name-constraints-not-critical", intermediate: Intermediate.With(NameConstraints(["example.com"], null, critical: false)));

        // Name constraints of the CAs above the server certificate.
        yield return Constrained("passes/name-constraints/permitted-domain", NameConstraints(["example.com"], null), [Host]);
        yield return Constrained("fails/name-constraints/outside-permitted", NameConstraints(["example.org", "example.net"], null), [Host]);
        yield return Constrained("fails/name-constraints/wildcard-outside-permitted", NameConstraints(["foo.example.com"], null), ["*.example.com"], host: "foo.example.com");
        yield return Constrained("fails/name-constraints/excluded", NameConstraints(null, [Host]), [Host]);
        yield return Constrained("fails/name-constraints/wildcard-base-excluded", NameConstraints(null, ["example.com"]), ["*.example.com"], host: "foo.example.com");
        yield return Constrained("fails/name-constraints/wildcard-one-label-above-an-exclusion", NameConstraints(null, ["bar.example.com"]), ["*.example.com"], host: "foo.example.com");
        yield return Constrained("passes/name-constraints/wildcard-two-labels-above-an-exclusion", NameConstraints(null, ["a.bar.example.com"]), ["*.example.com"], host: "foo.example.com");
        yield return Constrained("passes/name-constraints/wildcard-and-a-look-alike-exclusion", NameConstraints(null, ["a.examplezcom"]), ["*.example.com"], host: "foo.example.com");
        yield return Constrained("fails/name-constraints/invalid-name-under-dns-constraints", NameConstraints(["example.com"], null), [Host, "bad_name.example.com"]);
        yield return Constrained("fails/name-constraints/invalid-name-under-a-dns-exclusion", NameConstraints(null, ["example.org"]), [Host, "bad_name.example.com"]);
        yield return Constrained("passes/name-constraints/invalid-name-under-ip-constraints-only", NameConstraints(["10.0.0.0/8"], null), [Host, "bad_name"], ["10.0.0.1"]);
        yield return Constrained("fails/name-constraints/ip-excluded", NameConstraints(null, ["10.1.0.0/16"]), [], ["10.1.2.3"], host: "10.1.2.3");
        yield return Constrained("fails/name-constraints/ip-outside-permitted", NameConstraints(["10.0.0.0/8", "192.168.0.0/16"], null), [], ["172.16.0.1"], host: "172.16.0.1");
        yield return Constrained("passes/name-constraints/ip-permitted", NameConstraints(["10.0.0.0/8"], null), [], ["10.1.2.3"], host: "10.1.2.3");
        yield return Constrained("fails/name-constraints/ipv4-mapped-under-an-ipv6-exclusion", NameConstraints(null, ["::ffff:0:0/96"]), [], ["::ffff:10.0.0.5"], host: "[::ffff:10.0.0.5]");
        yield return Constrained("fails/name-constraints/ipv4-mapped-under-an-ipv4-exclusion", NameConstraints(null, ["10.0.0.0/8"]), [], ["::ffff:10.0.0.5"], host: "[::ffff:10.0.0.5]");
        yield return Constrained("passes/name-constraints/ipv6-outside-an-ipv4-exclusion", NameConstraints(null, ["10.0.0.0/8"]), [], ["::1"], host: "[::1]");

        // The comparison budget: 2^16 passes, one more CA constraint beyond it fails.
        var names = Enumerable.Range(0, 255).Select(i => $"n{i}.example.com").Append(Host).ToArray();
        yield return Constrained("passes/name-constraints/budget-65536-comparisons", NameConstraints(names, null), names);
        yield return Chain("fails/name-constraints/budget-65792-comparisons", Leaf.With(San(names)), Intermediate.With(NameConstraints(names, null)), Root.With(NameConstraints(["example.com"], null)));
    }

    private sealed record ProfileCase(string Name, RawCertificate[] Path, bool Anchored, string Host, DateTimeOffset? Now);
}
