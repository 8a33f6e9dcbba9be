using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>A path from leaf to anchor (or as far as the platform got) and whether it reached a trust anchor.</summary>
internal readonly record struct ChainVerdict(List<X509Certificate2> Path, bool Anchored, X509ChainStatusFlags Status);

/// <summary>
/// Finds the trust anchor of a chain for one <see cref="TlsPolicy"/>: the chain policies handed to the platform, the anchor
/// the platform's chain reached (or the first pinned certificate, OpenSSL's and Go's partial-chain rule), the system roots
/// when pinned ones do not apply (<see cref="MasterTrustMode.PinnedAdded"/>), and alternative paths through what the server
/// sent. Judging the path it finds is the profile's job (<see cref="ServerCertificateProfile"/>).
/// </summary>
internal sealed class AnchorSearch
{
    private const int MaxAlternativePaths = 4;
    private readonly TlsPolicy _policy;
    private readonly X509ChainPolicy? _pinned;
    private readonly ILogger _logger;

    /// <param name="policy">The validated TLS settings.</param>
    /// <param name="systemRootsOverride">For tests: the roots that stand in for the operating system's store; <see langword="null"/> for the real store.</param>
    /// <param name="logger">Where a chain accepted by the system roots instead of the pinned ones is logged.</param>
    public AnchorSearch(TlsPolicy policy, X509Certificate2Collection? systemRootsOverride, ILogger logger)
    {
        _policy = policy;
        _logger = logger;
        SystemRootsOverride = systemRootsOverride;
        if (policy.PinnedCollection.Count > 0)
        {
            _pinned = ChainPolicies.Pinned(policy.PinnedCollection, policy.CheckCertificateRevocation);
        }
    }

    public X509Certificate2Collection? SystemRootsOverride { get; }

    /// <summary>Whether certificates are pinned (then the platform builds against them alone).</summary>
    public bool HasPins => _pinned is not null;

    /// <summary>The chain policy a handshake hands to the platform: the pinned certificates when there are any, else the system roots.</summary>
    public X509ChainPolicy ForHandshake() => _pinned?.Clone() ?? ChainPolicies.System(_policy.CheckCertificateRevocation, SystemRootsOverride);

    /// <summary>The same chain policy, judging validity at <paramref name="now"/> (for chains built outside a handshake).</summary>
    public X509ChainPolicy At(DateTimeOffset now)
    {
        var policy = _pinned?.Clone() ?? ChainPolicies.System(_policy.CheckCertificateRevocation, SystemRootsOverride, now);
        policy.VerificationTime = now.UtcDateTime;
        return policy;
    }

    /// <summary>
    /// The best path for <paramref name="leaf"/>: the platform's chain when it reached an anchor; in
    /// <see cref="MasterTrustMode.PinnedAdded"/> the system roots' chain when the pinned ones do not apply; else an
    /// alternative path through the presented certificates that reaches an anchor and passes the profile.
    /// </summary>
    /// <param name="host">The name verified.</param>
    /// <param name="leaf">The server's certificate.</param>
    /// <param name="presented">What the server presented, leaf first.</param>
    /// <param name="chain">The chain the platform built.</param>
    /// <param name="now">The time validity is judged at.</param>
    /// <param name="problems">Receives a defect of a pinned root found on the way.</param>
    /// <param name="owned">Receives the chains built here (the caller disposes them once it has judged the path).</param>
    public ChainVerdict Find(string host, X509Certificate2 leaf, List<X509Certificate2> presented, X509Chain? chain, DateTimeOffset now, List<CertificateProblem> problems, List<X509Chain> owned)
    {
        var verdict = Anchor(leaf, chain, problems);
        if (!verdict.Anchored && _policy.TrustMode == MasterTrustMode.PinnedAdded && _pinned is not null)
        {
            var system = Build(leaf, presented, ChainPolicies.System(_policy.CheckCertificateRevocation, SystemRootsOverride, now), owned, exclude: null);
            var systemVerdict = Anchor(leaf, system, problems: null);
            if (systemVerdict.Anchored)
            {
                Log.AcceptedBySystemRoots(_logger, host);
                verdict = systemVerdict;
            }
            else
            {
                verdict = verdict with { Status = verdict.Status | (systemVerdict.Status & ~(X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) };
            }
        }

        if (!verdict.Anchored && presented.Count > 2)
        {
            verdict = TryAlternativePaths(host, leaf, presented, verdict, now, owned);
        }

        return verdict;
    }

    /// <summary>
    /// The trust anchor the platform's chain reached: a trusted root, or (OpenSSL's and Go's partial-chain rule) the first
    /// pinned certificate on a chain whose only faults are "partial" or "untrusted root". A pinned certificate that names
    /// itself as its issuer is a root: if the platform did not accept it as one, its self-signature or key identifiers are
    /// broken and it is no anchor. Validity is judged by the profile on the resolver's clock, not by the platform's.
    /// </summary>
    private ChainVerdict Anchor(X509Certificate2 leaf, X509Chain? chain, List<CertificateProblem>? problems)
    {
        if (chain is null || chain.ChainElements.Count == 0)
        {
            return new ChainVerdict([leaf], false, X509ChainStatusFlags.PartialChain);
        }

        var path = new List<X509Certificate2>(chain.ChainElements.Count);
        foreach (var element in chain.ChainElements)
        {
            path.Add(element.Certificate);
        }

        var status = AllStatus(chain) & ~(X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested);
        if ((status & ~X509ChainStatusFlags.NotValidForUsage) == 0)
        {
            return new ChainVerdict(path, true, status);
        }

        if ((status & ~(X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.UntrustedRoot)) != 0 || _pinned is null)
        {
            return new ChainVerdict(path, false, status);
        }

        for (var i = 0; i < path.Count; i++)
        {
            if (!IsPinned(path[i]))
            {
                continue;
            }

            // A pinned self-issued certificate is a root: the platform accepts a valid one as such. One it reports as
            // partial has a broken self-signature or key identifiers; a CA:TRUE leaf like that is no anchor either.
            if ((i > 0 || CertificateFacts.Read(path[i].RawDataMemory).IsCertificateAuthority) && path[i].SubjectName.RawData.AsSpan().SequenceEqual(path[i].IssuerName.RawData))
            {
                problems?.Add(new(MasterConnectionError.InvalidChain,
                    $"the pinned root '{SafeText.Ascii(path[i].Subject)}' could not be verified as a self-signed root (its self-signature or its authority key identifier does not match its own key)",
                    "re-create the CA certificate (a root's authority key identifier, when present, holds only its own subject key identifier), re-issue the chain and pin the new root"));
                return new ChainVerdict(path, false, status);
            }

            return new ChainVerdict(path.GetRange(0, i + 1), true, X509ChainStatusFlags.NoError);
        }

        return new ChainVerdict(path, false, status);
    }

    /// <summary>
    /// When the platform's chain failed, other paths through the presented certificates may succeed (a cross-signed
    /// intermediate, or one issued under a CA whose name constraints forbid it). Rebuilds a bounded number of times, each
    /// time leaving out an intermediate of the failed path for which the server sent another certificate of the same name.
    /// </summary>
    private ChainVerdict TryAlternativePaths(string host, X509Certificate2 leaf, List<X509Certificate2> presented, ChainVerdict failed, DateTimeOffset now, List<X509Chain> owned)
    {
        var excluded = new List<X509Certificate2>();
        var current = failed;
        for (var attempt = 0; attempt < MaxAlternativePaths; attempt++)
        {
            var candidate = current.Path.Skip(1).FirstOrDefault(c =>
                !excluded.Any(e => SameBytes(e, c))
                && presented.Skip(1).Any(p => !SameBytes(p, c) && !excluded.Any(e => SameBytes(e, p)) && p.SubjectName.RawData.AsSpan().SequenceEqual(c.SubjectName.RawData)));
            if (candidate is null)
            {
                return failed;
            }

            excluded.Add(candidate);
            var chain = Build(leaf, presented, At(now), owned, excluded);
            current = Anchor(leaf, chain, problems: null);
            if (current.Anchored)
            {
                var facts = current.Path.Select(c => CertificateFacts.Read(c.RawDataMemory)).ToList();
                var problems = new List<CertificateProblem>();
                ServerCertificateProfile.Check(current.Path, facts, anchored: true, host, now, problems);
                if (problems.Count == 0)
                {
                    return current;
                }
            }
        }

        return failed;
    }

    private static X509Chain Build(X509Certificate2 leaf, List<X509Certificate2> presented, X509ChainPolicy policy, List<X509Chain> owned, List<X509Certificate2>? exclude)
    {
        var chain = new X509Chain { ChainPolicy = policy };
        owned.Add(chain);
        foreach (var certificate in presented.Skip(1))
        {
            if (exclude is null || !exclude.Any(e => SameBytes(e, certificate)))
            {
                chain.ChainPolicy.ExtraStore.Add(certificate);
            }
        }

        chain.Build(leaf);
        return chain;
    }

    private static bool SameBytes(X509Certificate2 a, X509Certificate2 b) => a.RawDataMemory.Span.SequenceEqual(b.RawDataMemory.Span);

    private bool IsPinned(X509Certificate2 certificate)
    {
        foreach (var pinned in _policy.PinnedCollection)
        {
            if (SameBytes(pinned, certificate))
            {
                return true;
            }
        }

        return false;
    }

    private static X509ChainStatusFlags AllStatus(X509Chain chain)
    {
        var flags = X509ChainStatusFlags.NoError;
        foreach (var s in chain.ChainStatus)
        {
            flags |= s.Status;
        }

        foreach (var element in chain.ChainElements)
        {
            foreach (var s in element.ChainElementStatus)
            {
                flags |= s.Status;
            }
        }

        return flags;
    }
}
