using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// Turns what the platform and the server-certificate profile found into one <see cref="MasterConnectionException"/>:
/// the class of the first real defect, each defect once, and the fix. The resolver decides; this type words it.
/// </summary>
internal static class CertificateFailures
{
    private const X509ChainStatusFlags RevocationUnknown = X509ChainStatusFlags.RevocationStatusUnknown | X509ChainStatusFlags.OfflineRevocation;

    private const X509ChainStatusFlags NameConstraintFlags = X509ChainStatusFlags.HasExcludedNameConstraint | X509ChainStatusFlags.HasNotPermittedNameConstraint
        | X509ChainStatusFlags.HasNotSupportedNameConstraint | X509ChainStatusFlags.HasNotDefinedNameConstraint | X509ChainStatusFlags.InvalidNameConstraints;

    /// <summary>The server sent no certificate at all.</summary>
    public static MasterConnectionException NoCertificate(string host)
    {
        const string Fix = "check that the port belongs to a Determined master with security.tls.cert and security.tls.key set";
        return new(MasterConnectionError.NoCertificate, host, Messages.Failure(MasterConnectionError.NoCertificate, host, null, "the server sent no certificate", Fix), Fix);
    }

    /// <summary>The platform could not process the chain at all (it threw); the certificate is refused with the reason.</summary>
    /// <param name="host">The name verified.</param>
    /// <param name="presented">What the server presented, leaf first (never empty).</param>
    /// <param name="cause">What the platform threw.</param>
    public static MasterConnectionException Unprocessable(string host, IReadOnlyList<X509Certificate2> presented, Exception cause)
    {
        const string Fix = "re-issue the master certificate and its CA with a current tool (well-formed DER, RSA 2048+ or EC P-256/P-384 keys)";
        var detail = $"its chain could not be processed ({cause.GetType().Name}: {SafeText.Ascii(cause.Message)})";
        return new MasterConnectionException(MasterConnectionError.InvalidChain, host, Messages.Failure(MasterConnectionError.InvalidChain, host, presented[0], detail, Fix), Fix, presented, cause);
    }

    /// <summary>Adds why the chain is not trusted (untrusted root, missing intermediate, revoked, other platform status).</summary>
    public static void AddChainProblems(List<CertificateProblem> problems, IReadOnlyList<X509Certificate2> presented, X509ChainStatusFlags status, string host, bool pinned)
    {
        var leaf = presented[0];
        var last = presented[^1];
        var fingerprint = CertificatePin.Sha256Fingerprint(leaf);
        var selfSigned = string.Equals(leaf.Subject, leaf.Issuer, StringComparison.Ordinal);
        var pinFix = $"pin the CA that issued it (or the master's own self-signed certificate) with {Messages.CertFileSetting}, or trust it for this master with 'det tls trust' after checking that its SHA-256 fingerprint is {fingerprint}";
        var integrity = status & ~(X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.Revoked | RevocationUnknown | NameConstraintFlags);
        if ((status & NameConstraintFlags) != 0)
        {
            problems.Add(new(MasterConnectionError.NameConstraintViolation,
                $"a name of the server certificate is outside what a CA's name constraints allow (the platform reports {status & NameConstraintFlags})",
                "issue the master certificate only for names the CA is allowed to certify (or use a CA without that constraint)"));
            if ((status & ~NameConstraintFlags) == 0)
            {
                return;
            }
        }

        if (status.HasFlag(X509ChainStatusFlags.Revoked))
        {
            problems.Add(new(MasterConnectionError.Revoked, "a certificate in the chain has been revoked", "re-issue the master certificate; do not trust a revoked one"));
        }
        else if (integrity != 0)
        {
            problems.Add(new(MasterConnectionError.InvalidChain, $"the platform refused the chain ({integrity})", "re-issue the chain so that every signature, basic constraint and name constraint is valid; " + pinFix));
        }
        else if ((status & RevocationUnknown) != 0)
        {
            problems.Add(new(MasterConnectionError.InvalidChain,
                $"the revocation status of the chain could not be checked ({status & RevocationUnknown})",
                "publish a reachable CRL for the CA, or turn revocation checking off: TlsOptions.CheckCertificateRevocation (config Determined:Tls:CheckCertificateRevocation) = false, the default for private CAs"));
        }
        else if (status.HasFlag(X509ChainStatusFlags.PartialChain) && presented.Count == 1 && !selfSigned)
        {
            problems.Add(new(MasterConnectionError.IncompleteChain,
                $"the server sent its certificate without any intermediate, and its issuer '{SafeText.Ascii(leaf.Issuer)}' is neither pinned nor trusted here",
                "on the master, security.tls.cert must hold the full chain: the leaf first, then every intermediate (e.g. Let's Encrypt's fullchain.pem), and for a private CA the root too; if the issuing CA itself is not trusted, " + pinFix));
        }
        else if (selfSigned && presented.Count == 1)
        {
            problems.Add(new(MasterConnectionError.UntrustedRoot, $"the certificate is self-signed and not {(pinned ? "among the pinned certificates" : "pinned")} for '{SafeText.Ascii(host)}'", pinFix));
        }
        else
        {
            problems.Add(new(MasterConnectionError.UntrustedRoot,
                $"the chain the server sent ({presented.Count} certificate(s)) ends at '{SafeText.Ascii(last.Subject)}', issued by '{SafeText.Ascii(last.Issuer)}', and no certificate in it leads to a {(pinned ? "pinned or " : string.Empty)}trusted root",
                pinFix));
        }
    }

    /// <summary>The exception for a non-empty list of problems: the first real defect is the class; the others follow once each.</summary>
    /// <param name="host">The name verified.</param>
    /// <param name="presented">What the server presented, leaf first (never empty).</param>
    /// <param name="problems">Every defect found.</param>
    /// <param name="errors">What the platform reported for the handshake.</param>
    /// <param name="status">The chain status the platform reported.</param>
    public static MasterConnectionException Create(string host, IReadOnlyList<X509Certificate2> presented, List<CertificateProblem> problems, SslPolicyErrors errors, X509ChainStatusFlags status)
    {
        var ordered = problems
            .Select((p, i) => (Problem: p, Index: i))
            .OrderBy(p => Rank(p.Problem.Error))
            .ThenBy(p => p.Index)
            .Select(p => p.Problem)
            .DistinctBy(p => p.Detail)
            .ToList();
        var (primary, detail, _) = ordered[0];
        if (ordered.Count > 1)
        {
            // "Also:" sentences come before the presented certificate and the one "Fix:" (Failure adds the final period).
            var also = string.Join(" ", ordered.Skip(1).Select(p => Sentence(p.Detail)));
            detail = $"{detail}. Also: {also[..^1]}";
        }

        var fixes = ordered.Select(p => p.Fix).Distinct().Take(3).ToList();
        var allFixes = string.Join("; also, ", fixes);
        return new MasterConnectionException(primary, host, Messages.Failure(primary, host, presented[0], detail, allFixes), allFixes, presented)
        {
            Errors = ordered.Select(p => p.Error).Distinct().ToArray(),
            PolicyErrors = errors,
            ChainStatus = Enum.GetValues<X509ChainStatusFlags>().Where(f => f != 0 && status.HasFlag(f)).ToArray(),
        };
    }

    private static string Sentence(string detail) => char.ToUpperInvariant(detail[0]) + detail[1..] + ".";

    /// <summary>Which defect names the failure when several apply: what makes the chain meaningless first, trust last.</summary>
    private static int Rank(MasterConnectionError error) => error switch
    {
        MasterConnectionError.MalformedCertificate => 0,
        MasterConnectionError.InvalidChain => 1,
        MasterConnectionError.Revoked => 2,
        MasterConnectionError.NotYetValid or MasterConnectionError.Expired => 3,
        MasterConnectionError.CaCertificateAsServer => 4,
        MasterConnectionError.WrongKeyUsage => 5,
        MasterConnectionError.WeakKey => 6,
        MasterConnectionError.WeakSignature => 7,
        MasterConnectionError.NameConstraintViolation => 8,
        MasterConnectionError.NameMismatch => 9,
        _ => 10,
    };
}
