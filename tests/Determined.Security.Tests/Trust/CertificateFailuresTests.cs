using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Determined.Testing;

namespace Determined.Security.Tests.Trust;

/// <summary>
/// How a refused chain is worded: which platform status becomes which class, which defect names the failure when several
/// apply, and the one message with its fixes. Every case's output is compared with
/// <c>Approved/certificate-failures.txt</c> (the catalogue of these messages); the rules are also asserted directly.
/// </summary>
public sealed class CertificateFailuresTests
{
    private const string Host = "master.example.com";
    private const X509ChainStatusFlags Partial = X509ChainStatusFlags.PartialChain;
    private const X509ChainStatusFlags Untrusted = X509ChainStatusFlags.UntrustedRoot;
    private const X509ChainStatusFlags NotPermitted = X509ChainStatusFlags.HasNotPermittedNameConstraint;
    private const X509ChainStatusFlags BadSignature = X509ChainStatusFlags.NotSignatureValid;

    private static readonly X509Certificate2 SelfSigned = (RawCertificate.Server(Host) with { Issuer = "CN=master.example.com" }).Load();
    private static readonly X509Certificate2 Leaf = RawCertificate.Server(Host).Load();
    private static readonly X509Certificate2 Intermediate = RawCertificate.Authority("CN=Raw Intermediate", "CN=Raw Root").Load();

    [Fact]
    public void EveryStatusAndEveryCombination_MatchTheApprovedCatalogue()
    {
        var text = new StringBuilder();
        foreach (var (name, presented, status, pinned) in ChainCases())
        {
            var problems = new List<CertificateProblem>();
            CertificateFailures.AddChainProblems(problems, presented, status, Host, pinned);
            text.Append("== chain/").Append(name).Append('\n');
            foreach (var p in problems)
            {
                text.Append(p.Error).Append(" | ").Append(p.Detail).Append(" | ").Append(p.Fix).Append('\n');
            }
        }

        foreach (var (name, problems) in CreateCases())
        {
            var ex = CertificateFailures.Create(Host, [Leaf, Intermediate], problems, SslPolicyErrors.RemoteCertificateChainErrors, Partial | BadSignature);
            Append(text, "create/" + name, ex);
        }

        Append(text, "no-certificate", CertificateFailures.NoCertificate(Host));
        Append(text, "unprocessable", CertificateFailures.Unprocessable(Host, [Leaf], new System.Security.Cryptography.CryptographicException("bad\u001b[31m point")));

        ApprovedText.Verify("Determined.Security.Tests", "certificate-failures.txt", ApprovedText.Normalize(text.ToString()));
    }

    [Fact]
    public void NameConstraintStatusAlone_IsOneProblem_WithAnythingElseTheOtherProblemFollows()
    {
        Assert.Equal([MasterConnectionError.NameConstraintViolation], Classes([Leaf, Intermediate], NotPermitted));
        Assert.Equal([MasterConnectionError.NameConstraintViolation, MasterConnectionError.UntrustedRoot], Classes([Leaf, Intermediate], NotPermitted | Partial));
        Assert.Equal([MasterConnectionError.NameConstraintViolation, MasterConnectionError.InvalidChain], Classes([Leaf, Intermediate], NotPermitted | BadSignature));
    }

    [Fact]
    public void ChainStatus_LeafSentAlone_IsClassifiedByWhatIsMissing()
    {
        Assert.Equal([MasterConnectionError.IncompleteChain], Classes([Leaf], Partial));
        Assert.Equal([MasterConnectionError.UntrustedRoot], Classes([SelfSigned], Partial));
        Assert.Equal([MasterConnectionError.UntrustedRoot], Classes([SelfSigned], Untrusted));
        Assert.Equal([MasterConnectionError.UntrustedRoot], Classes([Leaf, Intermediate], Partial));
        Assert.Equal([MasterConnectionError.Revoked], Classes([Leaf, Intermediate], X509ChainStatusFlags.Revoked | BadSignature));
        Assert.Equal([MasterConnectionError.InvalidChain], Classes([Leaf, Intermediate], X509ChainStatusFlags.OfflineRevocation));
    }

    [Fact]
    public void Create_ReportsTheMostSeriousClassFirst_EachClassOnce_AndThePlatformStatusWithoutNoError()
    {
        var ex = CertificateFailures.Create(Host, [Leaf], [Problem(MasterConnectionError.NameMismatch, "a"), Problem(MasterConnectionError.Expired, "b"), Problem(MasterConnectionError.Expired, "c")], SslPolicyErrors.RemoteCertificateNameMismatch, X509ChainStatusFlags.NotTimeValid);

        Assert.Equal(MasterConnectionError.Expired, ex.Error);
        Assert.Equal([MasterConnectionError.Expired, MasterConnectionError.NameMismatch], ex.Errors);
        Assert.Equal([X509ChainStatusFlags.NotTimeValid], ex.ChainStatus);
        Assert.Equal(SslPolicyErrors.RemoteCertificateNameMismatch, ex.PolicyErrors);
        Assert.Equal(CertificatePin.Sha256Fingerprint(Leaf), ex.PresentedChain[0].Sha256Fingerprint);
    }

    private static MasterConnectionError[] Classes(X509Certificate2[] presented, X509ChainStatusFlags status)
    {
        var problems = new List<CertificateProblem>();
        CertificateFailures.AddChainProblems(problems, presented, status, Host, pinned: false);
        return [.. problems.Select(p => p.Error)];
    }

    private static CertificateProblem Problem(MasterConnectionError error, string detail, string fix = "fix it") => new(error, detail, fix);

    private static void Append(StringBuilder text, string name, MasterConnectionException ex)
    {
        text.Append("== ").Append(name).Append('\n')
            .Append("error: ").Append(ex.Error).Append(" (").Append(string.Join(", ", ex.Errors)).Append(")\n")
            .Append("chain status: ").Append(string.Join(", ", ex.ChainStatus)).Append("; policy errors: ").Append(ex.PolicyErrors).Append('\n')
            .Append("message: ").Append(ex.Message).Append('\n')
            .Append("fix: ").Append(ex.SuggestedFix).Append('\n');
    }

    private static IEnumerable<(string Name, X509Certificate2[] Presented, X509ChainStatusFlags Status, bool Pinned)> ChainCases()
    {
        yield return ("name-constraint-only", [Leaf, Intermediate], NotPermitted, false);
        yield return ("every-name-constraint-flag", [Leaf, Intermediate], X509ChainStatusFlags.HasExcludedNameConstraint | NotPermitted | X509ChainStatusFlags.HasNotSupportedNameConstraint | X509ChainStatusFlags.HasNotDefinedNameConstraint | X509ChainStatusFlags.InvalidNameConstraints, false);
        yield return ("name-constraint-and-partial", [Leaf, Intermediate], NotPermitted | Partial, false);
        yield return ("name-constraint-and-bad-signature", [Leaf, Intermediate], NotPermitted | BadSignature, false);
        yield return ("revoked", [Leaf, Intermediate], X509ChainStatusFlags.Revoked, false);
        yield return ("revoked-and-bad-signature", [Leaf, Intermediate], X509ChainStatusFlags.Revoked | BadSignature, false);
        yield return ("bad-signature-and-partial", [Leaf, Intermediate], BadSignature | Partial, false);
        yield return ("revocation-unknown", [Leaf, Intermediate], X509ChainStatusFlags.RevocationStatusUnknown | Partial, false);
        yield return ("offline-revocation", [Leaf, Intermediate], X509ChainStatusFlags.OfflineRevocation, false);
        yield return ("leaf-alone-partial", [Leaf], Partial, false);
        yield return ("leaf-alone-partial-pinned", [Leaf], Partial, true);
        yield return ("self-signed-alone-partial", [SelfSigned], Partial, false);
        yield return ("self-signed-alone-untrusted", [SelfSigned], Untrusted, false);
        yield return ("self-signed-alone-untrusted-pinned", [SelfSigned], Untrusted, true);
        yield return ("self-signed-with-another-certificate", [SelfSigned, Intermediate], Untrusted, false);
        yield return ("leaf-and-intermediate-partial", [Leaf, Intermediate], Partial, false);
        yield return ("leaf-and-intermediate-partial-pinned", [Leaf, Intermediate], Partial, true);
        yield return ("leaf-alone-untrusted", [Leaf], Untrusted, false);
    }

    private static IEnumerable<(string Name, List<CertificateProblem> Problems)> CreateCases()
    {
        yield return ("one-problem", [Problem(MasterConnectionError.UntrustedRoot, "the root is not trusted", "pin it")]);
        yield return ("ranked-out-of-order", [Problem(MasterConnectionError.UntrustedRoot, "untrusted", "pin it"), Problem(MasterConnectionError.NameMismatch, "wrong name", "fix the name"), Problem(MasterConnectionError.MalformedCertificate, "malformed", "re-issue")]);
        yield return ("same-detail-twice", [Problem(MasterConnectionError.WeakKey, "weak key", "new key"), Problem(MasterConnectionError.WeakKey, "weak key", "new key")]);
        yield return ("same-fix-twice", [Problem(MasterConnectionError.WeakKey, "weak leaf key", "new keys"), Problem(MasterConnectionError.WeakSignature, "weak signature", "new keys")]);
        yield return ("four-fixes-three-shown", [Problem(MasterConnectionError.Expired, "expired", "renew"), Problem(MasterConnectionError.WeakKey, "weak", "new key"), Problem(MasterConnectionError.WrongKeyUsage, "usage", "new usage"), Problem(MasterConnectionError.NameMismatch, "name", "new name")]);
        yield return ("every-rank", [.. Enum.GetValues<MasterConnectionError>().Reverse().Select(e => Problem(e, $"{e} seen", $"fix {e}"))]);
    }
}
