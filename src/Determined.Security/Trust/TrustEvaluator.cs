using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>
/// The trust of one <see cref="TlsPolicy"/> generation, coordinating its parts: the decision per master URL
/// (<see cref="Decide"/>, free of side effects), the TLS options handed to the platform, and the judgement of every chain a
/// master presents — the anchor (<see cref="AnchorSearch"/>), the server-certificate profile
/// (<see cref="ServerCertificateProfile"/>), the classification of a refusal (<see cref="CertificateFailures"/>), the cache
/// of the last accepted chain (<see cref="AcceptedChainCache"/>) and the expiry warning (<see cref="ExpiryMonitor"/>).
/// Immutable apart from its caches; <see cref="CertificateTrustResolver"/> swaps in a new one when trust files are reloaded,
/// and every SSL option set it created keeps judging with the generation it came from.
/// </summary>
internal sealed class TrustEvaluator
{
    private readonly ILogger _logger;
    private readonly AnchorSearch _anchors;
    private readonly AcceptedChainCache _accepted = new();
    private readonly ExpiryMonitor _expiry;

    /// <param name="policy">The validated TLS settings.</param>
    /// <param name="logger">Where rejections, skip-verification and expiry warnings are logged.</param>
    /// <param name="timeProvider">The clock every certificate's validity is judged at.</param>
    /// <param name="systemRootsOverride">For tests: the roots that stand in for the operating system's store; <see langword="null"/> for the real store.</param>
    public TrustEvaluator(TlsPolicy policy, ILogger logger, TimeProvider timeProvider, X509Certificate2Collection? systemRootsOverride)
    {
        Policy = policy;
        _logger = logger;
        TimeProvider = timeProvider;
        _anchors = new AnchorSearch(policy, systemRootsOverride, logger);
        _expiry = new ExpiryMonitor(policy.CertificateExpiryWarning, logger);
    }

    public TlsPolicy Policy { get; }

    public X509Certificate2Collection? SystemRootsOverride => _anchors.SystemRootsOverride;

    private TimeProvider TimeProvider { get; }

    /// <summary>Decides what is trusted for a master URL and which name is verified. No side effects: the caller logs it.</summary>
    /// <param name="masterUri">The master URL (<c>https://host:port</c> or <c>http://…</c>).</param>
    /// <returns>The decision with its reason.</returns>
    public TrustDecision Decide(Uri masterUri)
    {
        var nameOverride = Policy.MasterCertificateName;
        var pinned = Policy.PinnedCollection.Count;
        var nameReason = nameOverride is null ? "name from the URL" : $"name override from {Messages.CertNameSetting}";
        if (!TlsPolicy.IsHttps(masterUri))
        {
            return new(masterUri, TrustAnchors.PlainHttp, nameOverride, "plain HTTP: nothing is encrypted or verified", 0);
        }

        if (Policy.DangerousSkipVerification)
        {
            return new(masterUri, TrustAnchors.DangerousNone, nameOverride, $"verification is off by {Messages.SkipSetting}", 0);
        }

        if (pinned == 0)
        {
            return new(masterUri, TrustAnchors.SystemRoots, nameOverride, $"nothing is pinned: the system's trusted roots; {nameReason}", 0);
        }

        return Policy.TrustMode == MasterTrustMode.PinnedOnly
            ? new(masterUri, TrustAnchors.PinnedOnly, nameOverride, $"only the {pinned} certificate(s) pinned from {Policy.PinnedCertificateSource} (TrustMode PinnedOnly); {nameReason}", pinned)
            : new(masterUri, TrustAnchors.SystemRootsAndPinned, nameOverride, $"the system roots plus the {pinned} certificate(s) pinned from {Policy.PinnedCertificateSource}; {nameReason}", pinned);
    }

    /// <summary>
    /// Checks a certificate (and the intermediates that came with it) against the trust decided for a master URL,
    /// building the chain itself at the resolver's <see cref="TimeProvider"/> time and applying the same server-certificate
    /// profile as a handshake. Used for chains captured outside a handshake.
    /// </summary>
    /// <param name="decision">The decision for the master URL.</param>
    /// <param name="certificate">The leaf certificate.</param>
    /// <param name="additionalCertificates">Intermediates presented with the leaf, if any.</param>
    /// <exception cref="MasterConnectionException">The certificate is not trusted, whatever its bytes; the exception says why.</exception>
    public void ValidateCertificate(TrustDecision decision, X509Certificate2 certificate, X509Certificate2Collection? additionalCertificates)
    {
        var name = decision.ExpectedName;
        if (Policy.DangerousSkipVerification)
        {
            Log.SkipVerification(_logger, name, Messages.SkipSetting, Messages.CertFileSetting);
            return;
        }

        using var chain = new X509Chain();
        SslPolicyErrors errors;
        try
        {
            chain.ChainPolicy = _anchors.At(TimeProvider.GetUtcNow());
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

    /// <summary>The options of a TLS connection for <paramref name="decision"/>: protocols, client certificate, and the validation callback that applies this policy.</summary>
    public SslClientAuthenticationOptions CreateSslOptions(TrustDecision decision)
    {
        var expectedName = decision.ExpectedName;
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
            options.CertificateChainPolicy = ChainPolicies.CaptureOnly();
#pragma warning disable CA5359 // Accepting every certificate is what DangerousSkipVerification asks for; it is logged above.
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
            return options;
        }

        options.CertificateChainPolicy = _anchors.ForHandshake();
        options.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            var host = decision.VerifiedName((sender as SslStream)?.TargetHostName);
            if (errors == SslPolicyErrors.None && chain is not null && _accepted.Matches(chain, host, TimeProvider.GetUtcNow()))
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

        var presented = PresentedChain.Of(leaf, chain);
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
        var verdict = _anchors.Find(host, leaf, presented, chain, now, problems, owned);
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
            CertificateFailures.AddChainProblems(problems, presented, verdict.Status & ~X509ChainStatusFlags.NotValidForUsage, host, _anchors.HasPins);
        }

        if (problems.Count == 0)
        {
            _accepted.Remember(verdict.Path, facts, host);
            _expiry.Report(host, verdict.Path, facts, now);
            return null;
        }

        return Reject(CertificateFailures.Create(host, presented, problems, errors, verdict.Status));
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

    private MasterConnectionException Reject(MasterConnectionException exception)
    {
        SecurityTelemetry.Rejected(exception.Error);
        Log.CertificateRejected(_logger, exception.Host, exception.Error, exception.Sha256Fingerprint, exception.Message);
        return exception;
    }
}
