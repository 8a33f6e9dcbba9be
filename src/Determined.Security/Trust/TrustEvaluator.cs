using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Security;

/// <summary>
/// The trust of one <see cref="TlsPolicy"/> generation: the decision per master URL, the TLS options handed to the
/// platform, and the judgement of every chain a master presents (the server-certificate profile, anchors, classification).
/// Immutable apart from its caches; <see cref="CertificateTrustResolver"/> swaps in a new one when trust files are reloaded,
/// and every SSL option set it created keeps judging with the generation it came from.
/// </summary>
internal sealed class TrustEvaluator
{
    private static readonly Oid s_serverAuth = new(CertificateNames.ServerAuthOid);
    private readonly ILogger _logger;
    private readonly X509ChainPolicy? _pinnedChainPolicy;
    private readonly X509Certificate2Collection? _systemRootsOverride;
    private volatile AcceptedChain? _lastGood;
    private string? _expiryWarned;

    /// <param name="policy">The validated TLS settings.</param>
    /// <param name="logger">Where trust decisions and rejections are logged.</param>
    /// <param name="timeProvider">The clock every certificate's validity is judged at.</param>
    /// <param name="systemRootsOverride">For tests: the roots that stand in for the operating system's store; <see langword="null"/> for the real store.</param>
    public TrustEvaluator(TlsPolicy policy, ILogger logger, TimeProvider timeProvider, X509Certificate2Collection? systemRootsOverride)
    {
        Policy = policy;
        _logger = logger;
        TimeProvider = timeProvider;
        _systemRootsOverride = systemRootsOverride;
        if (policy.PinnedCollection.Count > 0)
        {
            _pinnedChainPolicy = NewChainPolicy(policy.PinnedCollection);
        }
    }

    public TlsPolicy Policy { get; }

    public X509Certificate2Collection? SystemRootsOverride => _systemRootsOverride;

    private TimeProvider TimeProvider { get; }

    /// <summary>Decides what is trusted for a master URL and which name is verified.</summary>
    /// <param name="masterUri">The master URL (<c>https://host:port</c> or <c>http://…</c>).</param>
    /// <returns>The decision with its reason.</returns>
    public TrustDecision Resolve(Uri masterUri)
    {
        var name = ExpectedName(masterUri);
        var pinned = Policy.PinnedCollection.Count;
        var nameReason = Policy.MasterCertificateName is null ? "name from the URL" : $"name override from {Messages.CertNameSetting}";
        TrustDecision decision;
        if (!TlsPolicy.IsHttps(masterUri))
        {
            decision = new(masterUri, TrustAnchors.PlainHttp, name, "plain HTTP: nothing is encrypted or verified", 0);
        }
        else if (Policy.DangerousSkipVerification)
        {
            decision = new(masterUri, TrustAnchors.DangerousNone, name, $"verification is off by {Messages.SkipSetting}", 0);
        }
        else if (pinned == 0)
        {
            decision = new(masterUri, TrustAnchors.SystemRoots, name, $"nothing is pinned: the system's trusted roots; {nameReason}", 0);
        }
        else if (Policy.TrustMode == MasterTrustMode.PinnedOnly)
        {
            decision = new(masterUri, TrustAnchors.PinnedOnly, name, $"only the {pinned} certificate(s) pinned from {Policy.PinnedCertificateSource} (TrustMode PinnedOnly); {nameReason}", pinned);
        }
        else
        {
            decision = new(masterUri, TrustAnchors.SystemRootsAndPinned, name, $"the system roots plus the {pinned} certificate(s) pinned from {Policy.PinnedCertificateSource}; {nameReason}", pinned);
        }

        Log.TrustDecided(_logger, masterUri, decision.Anchors, decision.ExpectedName, decision.Reason);
        SecurityTelemetry.Decided(decision.Anchors);
        return decision;
    }

    /// <summary>
    /// Checks a certificate (and the intermediates that came with it) against the trust decided for a master URL,
    /// building the chain itself at the resolver's <see cref="TimeProvider"/> time and applying the same server-certificate
    /// profile as a handshake. Used for chains captured outside a handshake.
    /// </summary>
    /// <param name="masterUri">The master URL.</param>
    /// <param name="certificate">The leaf certificate.</param>
    /// <param name="additionalCertificates">Intermediates presented with the leaf, if any.</param>
    /// <exception cref="MasterConnectionException">The certificate is not trusted, whatever its bytes; the exception says why.</exception>
    public void ValidateCertificate(Uri masterUri, X509Certificate2 certificate, X509Certificate2Collection? additionalCertificates)
    {
        if (Policy.DangerousSkipVerification)
        {
            Log.SkipVerification(_logger, ExpectedName(masterUri), Messages.SkipSetting, Messages.CertFileSetting);
            return;
        }

        var name = ExpectedName(masterUri);
        using var chain = new X509Chain();
        SslPolicyErrors errors;
        try
        {
            chain.ChainPolicy = NewPolicy(TimeProvider.GetUtcNow());
            if (additionalCertificates is not null)
            {
                chain.ChainPolicy.ExtraStore.AddRange(additionalCertificates);
            }

            errors = chain.Build(certificate) ? SslPolicyErrors.None : SslPolicyErrors.RemoteCertificateChainErrors;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or InvalidOperationException)
        {
            throw Unbuildable(name, [certificate, .. additionalCertificates ?? []], ex);
        }

        var failure = Evaluate(name, certificate, chain, errors);
        if (failure is not null)
        {
            throw failure;
        }
    }

    public SslClientAuthenticationOptions CreateSslOptions(string expectedName)
    {
        var options = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = Policy.EnabledProtocols,
            CertificateRevocationCheckMode = Policy.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            ClientCertificateContext = Policy.ClientCertificateContext,
            CipherSuitesPolicy = Policy.CipherSuitesPolicy,
        };

        if (Policy.DangerousSkipVerification)
        {
            Log.SkipVerification(_logger, expectedName, Messages.SkipSetting, Messages.CertFileSetting);

            // Nothing is verified, but the platform still builds a chain first: never from URLs the server names.
            options.CertificateChainPolicy = new X509ChainPolicy { RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
#pragma warning disable CA5359 // Accepting every certificate is what DangerousSkipVerification asks for; it is logged above.
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
            return options;
        }

        options.CertificateChainPolicy = _pinnedChainPolicy is not null ? _pinnedChainPolicy.Clone() : NewSystemChainPolicy();

        options.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            // With a name override the override is verified, whatever the stream's target host says (never the URL host).
            var host = Policy.MasterCertificateName ?? ((sender as SslStream)?.TargetHostName is { Length: > 0 } target ? target : expectedName);
            if (errors == SslPolicyErrors.None && chain is not null && _lastGood is { } good && good.Matches(chain, host, TimeProvider.GetUtcNow()))
            {
                SecurityTelemetry.Accepted();
                return true;
            }

            var failure = Evaluate(host, certificate as X509Certificate2, chain, errors);
            return failure is null ? Accepted() : throw failure;
        };
        return options;
    }

    private static bool Accepted()
    {
        SecurityTelemetry.Accepted();
        return true;
    }

    private string ExpectedName(Uri masterUri) => Policy.ExpectedName(masterUri);

    /// <summary>
    /// Judges a chain the platform built (in a handshake or in <see cref="ValidateCertificate"/>): which anchor it reached,
    /// then the server-certificate profile on that path at the resolver's clock. <see langword="null"/> when acceptable;
    /// otherwise the classified rejection (never another exception type, whatever the bytes).
    /// </summary>
    public MasterConnectionException? Evaluate(string host, X509Certificate2? leaf, X509Chain? chain, SslPolicyErrors errors)
    {
        if (leaf is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return Reject(CertificateFailures.NoCertificate(host));
        }

        var presented = Presented(leaf, chain);
        var owned = new List<X509Chain>();
        try
        {
            return Judge(host, leaf, presented, chain, errors, owned);
        }
        catch (Exception ex) when (ex is not MasterConnectionException and not OutOfMemoryException)
        {
            return Unbuildable(host, presented, ex);
        }
        finally
        {
            foreach (var c in owned)
            {
                c.Dispose();
            }
        }
    }

    private MasterConnectionException? Judge(string host, X509Certificate2 leaf, List<X509Certificate2> presented, X509Chain? chain, SslPolicyErrors errors, List<X509Chain> owned)
    {
        var now = TimeProvider.GetUtcNow();
        var problems = new List<CertificateProblem>();
        var verdict = Anchor(leaf, chain, problems);
        if (!verdict.Anchored && Policy.TrustMode == MasterTrustMode.PinnedAdded && _pinnedChainPolicy is not null)
        {
            var system = Build(leaf, presented, NewSystemChainPolicy(now), owned, exclude: null);
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

        var facts = verdict.Path.Select(c => CertificateFacts.Read(c.RawDataMemory)).ToList();
        ServerCertificateProfile.Check(verdict.Path, facts, verdict.Anchored, host, now, problems);
        if (verdict.Status.HasFlag(X509ChainStatusFlags.NotValidForUsage) && !problems.Any(p => p.Error == MasterConnectionError.WrongKeyUsage))
        {
            problems.Add(new(MasterConnectionError.WrongKeyUsage,
                "a CA in the chain restricts its extended key usage to purposes without TLS server authentication (serverAuth)",
                "re-issue the intermediate CA with extendedKeyUsage including serverAuth (or without extendedKeyUsage)"));
        }

        if (!verdict.Anchored)
        {
            CertificateFailures.AddChainProblems(problems, presented, verdict.Status & ~X509ChainStatusFlags.NotValidForUsage, host, _pinnedChainPolicy is not null);
        }

        if (problems.Count == 0)
        {
            _lastGood = AcceptedChain.Create(verdict.Path, facts, host);
            ReportExpiry(host, verdict.Path, facts, now);
            return null;
        }

        return Reject(CertificateFailures.Create(host, presented, problems, errors, verdict.Status));
    }

    /// <summary>
    /// Runs once per newly accepted chain (later handshakes hit the cache): reports the time until its first certificate
    /// expires, and warns once per certificate when that is within <see cref="TlsOptions.CertificateExpiryWarning"/>.
    /// </summary>
    private void ReportExpiry(string host, List<X509Certificate2> path, List<CertificateFacts> facts, DateTimeOffset now)
    {
        var first = 0;
        for (var i = 1; i < facts.Count; i++)
        {
            if (facts[i].NotAfter < facts[first].NotAfter)
            {
                first = i;
            }
        }

        var left = facts[first].NotAfter - now;
        if (SecurityTelemetry.ExpiresIn.Enabled)
        {
            SecurityTelemetry.ExpiresIn.Record(left.TotalSeconds, new KeyValuePair<string, object?>("server.address", host));
        }

        var warning = Policy.CertificateExpiryWarning;
        if (warning > TimeSpan.Zero && left <= warning)
        {
            var fingerprint = CertificatePin.Sha256Fingerprint(path[first]);
            if (!string.Equals(Interlocked.Exchange(ref _expiryWarned, fingerprint), fingerprint, StringComparison.Ordinal))
            {
                Log.CertificateExpiresSoon(_logger, CertificateSummary.SafeSubject(path[first]), fingerprint, host, facts[first].NotAfter, left.TotalDays);
            }
        }
    }

    /// <summary>
    /// The platform could not process the chain (it threw, e.g. OpenSSL on an explicit-curve key): the profile still names
    /// the defect when it sees one in the presented certificates; otherwise the chain is refused as unprocessable.
    /// </summary>
    private MasterConnectionException Unbuildable(string host, List<X509Certificate2> presented, Exception cause)
    {
        try
        {
            var facts = presented.Select(c => CertificateFacts.Read(c.RawDataMemory)).ToList();
            var problems = new List<CertificateProblem>();
            ServerCertificateProfile.Check(presented, facts, anchored: false, host, TimeProvider.GetUtcNow(), problems);
            if (problems.Count > 0)
            {
                return Reject(CertificateFailures.Create(host, presented, problems, SslPolicyErrors.RemoteCertificateChainErrors, X509ChainStatusFlags.NoError));
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Fall through to the generic refusal below.
        }

        return Reject(CertificateFailures.Unprocessable(host, presented, cause));
    }

    /// <summary>
    /// The trust anchor the platform's chain reached: a trusted root, or (OpenSSL's and Go's partial-chain rule) the first
    /// pinned certificate on a chain whose only faults are "partial" or "untrusted root". A pinned certificate that names
    /// itself as its issuer is a root: if the platform did not accept it as one, its self-signature or key identifiers are
    /// broken and it is no anchor. Validity is judged by the profile on the resolver's clock, not by the platform's.
    /// </summary>
    private Verdict Anchor(X509Certificate2 leaf, X509Chain? chain, List<CertificateProblem>? problems)
    {
        if (chain is null || chain.ChainElements.Count == 0)
        {
            return new Verdict([leaf], false, X509ChainStatusFlags.PartialChain);
        }

        var path = new List<X509Certificate2>(chain.ChainElements.Count);
        foreach (var element in chain.ChainElements)
        {
            path.Add(element.Certificate);
        }

        var status = AllStatus(chain) & ~(X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested);
        if ((status & ~X509ChainStatusFlags.NotValidForUsage) == 0)
        {
            return new Verdict(path, true, status);
        }

        if ((status & ~(X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.UntrustedRoot)) != 0 || _pinnedChainPolicy is null)
        {
            return new Verdict(path, false, status);
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
                    $"the pinned root '{Messages.Printable(path[i].Subject)}' could not be verified as a self-signed root (its self-signature or its authority key identifier does not match its own key)",
                    "re-create the CA certificate (a root's authority key identifier, when present, holds only its own subject key identifier), re-issue the chain and pin the new root"));
                return new Verdict(path, false, status);
            }

            return new Verdict(path.GetRange(0, i + 1), true, X509ChainStatusFlags.NoError);
        }

        return new Verdict(path, false, status);
    }

    /// <summary>
    /// When the platform's chain failed, other paths through the presented certificates may succeed (a cross-signed
    /// intermediate, or one issued under a CA whose name constraints forbid it). Rebuilds a bounded number of times, each
    /// time leaving out an intermediate of the failed path for which the server sent another certificate of the same name.
    /// </summary>
    private Verdict TryAlternativePaths(string host, X509Certificate2 leaf, List<X509Certificate2> presented, Verdict failed, DateTimeOffset now, List<X509Chain> owned)
    {
        const int MaxAttempts = 4;
        var excluded = new List<X509Certificate2>();
        var current = failed;
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var candidate = current.Path.Skip(1).FirstOrDefault(c =>
                !excluded.Any(e => SameBytes(e, c))
                && presented.Skip(1).Any(p => !SameBytes(p, c) && !excluded.Any(e => SameBytes(e, p)) && p.SubjectName.RawData.AsSpan().SequenceEqual(c.SubjectName.RawData)));
            if (candidate is null)
            {
                return failed;
            }

            excluded.Add(candidate);
            var chain = Build(leaf, presented, NewPolicy(now), owned, excluded);
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

    private MasterConnectionException Reject(MasterConnectionException exception)
    {
        SecurityTelemetry.Rejected(exception.Error);
        Log.CertificateRejected(_logger, exception.Host, exception.Error, exception.Sha256Fingerprint, exception.Message);
        return exception;
    }

    private bool IsPinned(X509Certificate2 certificate)
    {
        foreach (var pinned in Policy.PinnedCollection)
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

    private static List<X509Certificate2> Presented(X509Certificate2 leaf, X509Chain? chain) => PresentedChain.Of(leaf, chain);

    private X509ChainPolicy NewPolicy(DateTimeOffset now)
    {
        var policy = _pinnedChainPolicy?.Clone() ?? NewSystemChainPolicy(now);
        policy.VerificationTime = now.UtcDateTime;
        return policy;
    }

    private X509ChainPolicy NewChainPolicy(X509Certificate2Collection roots)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = Policy.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
            // Nothing is fetched (a master must send its chain) unless revocation is checked: .NET has one switch for CRLs
            // and issuer downloads, so CheckCertificateRevocation enables both (docs/SECURITY-PROFILE.md rule 18a).
            DisableCertificateDownloads = !Policy.CheckCertificateRevocation,
        };
        policy.CustomTrustStore.AddRange(roots);
        policy.ApplicationPolicy.Add(s_serverAuth);
        return policy;
    }

    private X509ChainPolicy NewSystemChainPolicy(DateTimeOffset? now = null)
    {
        // Nothing is ever fetched from URLs in certificates (a master must send its chain; a hostile chain could make every
        // build wait on an address of its choosing): CRLs only when revocation is checked.
        var policy = _systemRootsOverride is { } roots
            ? NewChainPolicy(roots)
            : new X509ChainPolicy
            {
                RevocationMode = Policy.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
                DisableCertificateDownloads = !Policy.CheckCertificateRevocation,
            };
        if (_systemRootsOverride is null)
        {
            policy.ApplicationPolicy.Add(s_serverAuth);
        }

        if (now is { } time)
        {
            policy.VerificationTime = time.UtcDateTime;
        }

        return policy;
    }

    /// <summary>A path from leaf to anchor (or as far as the platform got) and whether it reached a trust anchor.</summary>
    private readonly record struct Verdict(List<X509Certificate2> Path, bool Anchored, X509ChainStatusFlags Status);

    /// <summary>
    /// The last chain that passed everything, by its DER bytes: a master presents the same chain on every handshake, so
    /// the profile runs once per chain (and name) instead of once per connection. Valid only within every element's dates.
    /// </summary>
    private sealed class AcceptedChain
    {
        private readonly byte[][] _elements;
        private readonly string _host;
        private readonly DateTimeOffset _from;
        private readonly DateTimeOffset _to;

        private AcceptedChain(byte[][] elements, string host, DateTimeOffset from, DateTimeOffset to)
        {
            _elements = elements;
            _host = host;
            _from = from;
            _to = to;
        }

        public static AcceptedChain Create(List<X509Certificate2> path, List<CertificateFacts> facts, string host) => new(
            path.Select(c => c.RawData).ToArray(),
            host,
            facts.Max(f => f.NotBefore),
            facts.Min(f => f.NotAfter));

        public bool Matches(X509Chain chain, string host, DateTimeOffset now)
        {
            var elements = chain.ChainElements;
            if (elements.Count < _elements.Length || !string.Equals(host, _host, StringComparison.Ordinal) || now < _from || now >= _to)
            {
                return false;
            }

            for (var i = 0; i < _elements.Length; i++)
            {
                if (!_elements[i].AsSpan().SequenceEqual(elements[i].Certificate.RawDataMemory.Span))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
