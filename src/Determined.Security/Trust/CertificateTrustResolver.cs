using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Security;

/// <summary>
/// Decides, for one master URL, what to trust and which name to verify, and checks the certificates a master
/// presents against that decision. Thread-safe; create one per <see cref="TlsPolicy"/> and reuse it.
/// </summary>
/// <remarks>
/// Trust is handed to the platform as an <see cref="X509ChainPolicy"/> with <see cref="X509ChainTrustMode.CustomRootTrust"/>
/// whenever certificates are pinned, so a handshake builds the chain once. A validation callback only classifies
/// failures (and, in <see cref="MasterTrustMode.PinnedAdded"/>, retries against the system roots when the pinned
/// ones do not apply), so every rejection is a <see cref="MasterCertificateException"/> that names the problem.
/// </remarks>
public class CertificateTrustResolver
{
    private static readonly Oid s_serverAuth = new(CertificateNames.ServerAuthOid);
    private readonly ILogger _logger;
    private readonly X509ChainPolicy? _pinnedChainPolicy;
    private volatile byte[]? _lastGoodLeaf;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="policy">The validated TLS settings.</param>
    /// <param name="logger">Where trust decisions and rejections are logged; <see langword="null"/> for none.</param>
    /// <param name="timeProvider">The clock used in messages about validity dates; <see langword="null"/> for the system clock.</param>
    public CertificateTrustResolver(TlsPolicy policy, ILogger<CertificateTrustResolver>? logger = null, TimeProvider? timeProvider = null)
        : this(policy, (ILogger?)logger ?? NullLogger.Instance, timeProvider)
    {
    }

    private CertificateTrustResolver(TlsPolicy policy, ILogger logger, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(policy);
        Policy = policy;
        _logger = logger;
        TimeProvider = timeProvider ?? TimeProvider.System;
        if (policy.PinnedCollection.Count > 0)
        {
            _pinnedChainPolicy = NewChainPolicy(policy.PinnedCollection);
        }
    }

    /// <summary>Gets the settings this resolver applies.</summary>
    public TlsPolicy Policy { get; }

    /// <summary>Gets the clock used for validity messages.</summary>
    protected TimeProvider TimeProvider { get; }

    internal TimeProvider Clock => TimeProvider;

    /// <summary>A resolver like this one for reloaded material (same logger and clock).</summary>
    internal CertificateTrustResolver WithPolicy(TlsPolicy policy) => new(policy, _logger, TimeProvider);

    /// <summary>Decides what is trusted for a master URL and which name is verified.</summary>
    /// <param name="masterUri">The master URL (<c>https://host:port</c> or <c>http://…</c>).</param>
    /// <returns>The decision with its reason.</returns>
    public virtual TrustDecision Resolve(Uri masterUri)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        var name = ExpectedName(masterUri);
        var pinned = Policy.PinnedCollection.Count;
        var nameReason = Policy.MasterCertificateName is null ? "name from the URL" : $"name override from {Messages.CertNameSetting}";
        TrustDecision decision;
        if (!IsHttps(masterUri))
        {
            decision = new(masterUri, TrustSource.None, name, "plain HTTP: nothing is encrypted or verified", 0);
        }
        else if (Policy.DangerousSkipVerification)
        {
            decision = new(masterUri, TrustSource.DangerousSkipVerification, name, $"verification is off by {Messages.SkipSetting}", 0);
        }
        else if (pinned == 0)
        {
            decision = new(masterUri, TrustSource.System, name, $"nothing is pinned: the system's trusted roots; {nameReason}", 0);
        }
        else if (Policy.TrustMode == MasterTrustMode.PinnedOnly)
        {
            decision = new(masterUri, TrustSource.PinnedOnly, name, $"only the {pinned} certificate(s) pinned from {Policy.PinnedCertificateSource} (TrustMode PinnedOnly); {nameReason}", pinned);
        }
        else
        {
            decision = new(masterUri, TrustSource.PinnedAdded, name, $"the system roots plus the {pinned} certificate(s) pinned from {Policy.PinnedCertificateSource}; {nameReason}", pinned);
        }

        Log.TrustDecided(_logger, masterUri, decision.Source, decision.ExpectedName, decision.Reason);
        SecurityTelemetry.Decided(decision.Source);
        return decision;
    }

    /// <summary>
    /// Creates the options for a raw <see cref="SslStream"/> (or any TLS client) to this master: target host (the
    /// name override when set), protocols, trust and client certificate.
    /// </summary>
    /// <param name="masterUri">The master URL.</param>
    /// <returns>New options; the caller may change them.</returns>
    public virtual SslClientAuthenticationOptions CreateSslClientAuthenticationOptions(Uri masterUri)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        var options = CreateSslOptionsCore(ExpectedName(masterUri));
        options.TargetHost = ExpectedName(masterUri);
        return options;
    }

    /// <summary>
    /// Checks a certificate (and the intermediates that came with it) against the trust decided for a master URL,
    /// building the chain itself. Used for chains captured outside a handshake.
    /// </summary>
    /// <param name="masterUri">The master URL.</param>
    /// <param name="certificate">The leaf certificate.</param>
    /// <param name="additionalCertificates">Intermediates presented with the leaf, if any.</param>
    /// <exception cref="MasterCertificateException">The certificate is not trusted; the exception says why.</exception>
    public virtual void ValidateCertificate(Uri masterUri, X509Certificate2 certificate, X509Certificate2Collection? additionalCertificates = null)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        ArgumentNullException.ThrowIfNull(certificate);
        if (Policy.DangerousSkipVerification)
        {
            return;
        }

        var name = ExpectedName(masterUri);
        using var chain = new X509Chain();
        chain.ChainPolicy = _pinnedChainPolicy?.Clone() ?? NewSystemChainPolicy();
        if (additionalCertificates is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(additionalCertificates);
        }

        var errors = SslPolicyErrors.None;
        if (!chain.Build(certificate))
        {
            errors |= SslPolicyErrors.RemoteCertificateChainErrors;
        }

        if (!certificate.MatchesHostname(name, allowWildcards: true, allowCommonName: false))
        {
            errors |= SslPolicyErrors.RemoteCertificateNameMismatch;
        }

        var failure = Evaluate(name, certificate, chain, errors);
        if (failure is not null)
        {
            throw failure;
        }
    }

    internal SslClientAuthenticationOptions CreateSslOptionsCore(string expectedName)
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
            Log.SkipVerification(_logger, Messages.SkipVerificationWarning(expectedName));
#pragma warning disable CA5359 // Accepting every certificate is what DangerousSkipVerification asks for; it is logged above.
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
            return options;
        }

        if (_pinnedChainPolicy is not null)
        {
            options.CertificateChainPolicy = _pinnedChainPolicy.Clone();
        }
        else if (Policy.SystemRootsOverride is { } roots)
        {
            options.CertificateChainPolicy = NewChainPolicy(roots);
        }

        options.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            if (errors == SslPolicyErrors.None && certificate is X509Certificate2 leaf && PassesExtraChecksCached(leaf))
            {
                SecurityTelemetry.Accepted();
                return true;
            }

            var host = (sender as SslStream)?.TargetHostName is { Length: > 0 } target ? target : expectedName;
            var failure = Evaluate(host, certificate as X509Certificate2, chain, errors);
            return failure is null ? true : throw failure;
        };
        return options;
    }

    internal static string ExpectedNameFor(Uri masterUri, TlsPolicy policy) =>
        policy.MasterCertificateName ?? masterUri.IdnHost;

    internal string ExpectedName(Uri masterUri) => ExpectedNameFor(masterUri, Policy);

    internal static bool IsHttps(Uri uri) =>
        uri.Scheme.Equals(Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase) || uri.Scheme.Equals(Uri.UriSchemeWss, StringComparison.OrdinalIgnoreCase);

    /// <summary>Classifies a failed (or policy-violating) chain; <see langword="null"/> when the certificate is acceptable.</summary>
    internal MasterCertificateException? Evaluate(string host, X509Certificate2? leaf, X509Chain? chain, SslPolicyErrors errors)
    {
        if (leaf is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return Reject(new MasterCertificateException(
                MasterCertificateError.NoCertificate,
                host,
                Messages.Failure(MasterCertificateError.NoCertificate, host, null, "the server sent no certificate", "check that the port belongs to a Determined master with security.tls.cert and security.tls.key set"),
                "check that the port belongs to a Determined master with TLS configured"));
        }

        var presented = Presented(leaf, chain);
        var status = chain is null ? X509ChainStatusFlags.NoError : AllStatus(chain);
        var chainTrusted = !errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors);
        if (!chainTrusted && (status & ~(X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.UntrustedRoot)) == 0)
        {
            // OpenSSL's partial-chain rule (and Go's): a pinned certificate is a trust anchor even when it is not a root.
            chainTrusted = ReachesPinned(leaf, chain);
        }

        if (!chainTrusted && Policy.TrustMode == MasterTrustMode.PinnedAdded && _pinnedChainPolicy is not null)
        {
            var systemStatus = BuildWithSystemRoots(leaf, presented, out var systemOk);
            if (systemOk)
            {
                Log.AcceptedBySystemRoots(_logger, host);
                chainTrusted = true;
                status = X509ChainStatusFlags.NoError;
            }
            else
            {
                status |= systemStatus & ~(X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain);
            }
        }

        var now = TimeProvider.GetUtcNow();
        var problems = new List<(MasterCertificateError Error, string Detail, string Fix)>();
        var notBefore = new DateTimeOffset(leaf.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        if (now < notBefore)
        {
            problems.Add((MasterCertificateError.NotYetValid,
                $"the certificate is not valid until {Messages.Date(notBefore)} and this machine's clock says {Messages.Date(now)}",
                "if this machine's clock is wrong, correct it (NTP); otherwise wait until the certificate becomes valid or re-issue it with a correct start date"));
        }
        else if (now > notAfter)
        {
            problems.Add((MasterCertificateError.Expired,
                $"the certificate expired at {Messages.Date(notAfter)} and this machine's clock says {Messages.Date(now)}",
                "renew the master's certificate (security.tls.cert and security.tls.key on the master; the sample master reloads it without a restart); if this machine's clock is wrong, correct it"));
        }
        else if (status.HasFlag(X509ChainStatusFlags.NotTimeValid))
        {
            problems.Add((MasterCertificateError.Expired,
                "a CA certificate in the chain has expired or is not yet valid (this machine's clock says " + Messages.Date(now) + ")",
                "renew the expired CA certificate and re-issue the chain, or fix this machine's clock"));
        }

        if (IsCaAsServer(leaf))
        {
            problems.Add((MasterCertificateError.CaCertificateAsServer,
                $"the server presented the CA certificate '{leaf.Subject}' as its own certificate",
                "on the master, set security.tls.cert to a server certificate issued by that CA (leaf first, then intermediates), not to the CA certificate"));
        }

        if (!CertificateNames.AllowsServerAuthentication(leaf) || status.HasFlag(X509ChainStatusFlags.NotValidForUsage))
        {
            problems.Add((MasterCertificateError.WrongKeyUsage,
                "the certificate's extended key usage does not include TLS server authentication (serverAuth)",
                "re-issue the master certificate with extendedKeyUsage = serverAuth"));
        }

        if (CertificateNames.HasWeakKey(leaf, out var keyDescription))
        {
            problems.Add((MasterCertificateError.WeakKey,
                $"the certificate's key is too weak ({keyDescription})",
                "re-issue the master certificate with an RSA key of at least 2048 bits or an EC P-256 key"));
        }

        if (!string.Equals(leaf.Subject, leaf.Issuer, StringComparison.Ordinal) && CertificateNames.HasWeakSignature(leaf, out var algorithm))
        {
            problems.Add((MasterCertificateError.WeakSignature,
                $"the certificate is signed with {algorithm}, which is broken",
                "re-issue the master certificate with a SHA-256 (or stronger) signature"));
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            var names = CertificateSummary.Create(leaf).Names.ToList();
            var suggestion = names.FirstOrDefault() ?? "<a name in the certificate>";
            problems.Add((MasterCertificateError.NameMismatch,
                $"the certificate is not valid for '{host}'; its names are: {(names.Count == 0 ? "none (no subject alternative names; CN-only certificates are not accepted)" : string.Join(", ", names))}",
                names.Count == 0
                    ? "re-issue the master certificate with the master's DNS name or IP address as a subject alternative name"
                    : $"connect with a URL whose host is one of those names, or set the expected name with {Messages.CertNameSetting} to '{suggestion}'"));
        }

        if (!chainTrusted)
        {
            AddChainProblems(problems, leaf, presented, status, host);
        }

        if (problems.Count == 0)
        {
            return null;
        }

        var (primary, detail, fix) = problems[0];
        var more = problems.Count > 1 ? $" Also: {string.Join("; ", problems.Skip(1).Select(p => p.Detail))}." : string.Empty;
        var exception = new MasterCertificateException(primary, host, Messages.Failure(primary, host, leaf, detail, fix) + more, fix, presented)
        {
            Errors = problems.Select(p => p.Error).ToArray(),
            PolicyErrors = errors,
            ChainStatus = Enum.GetValues<X509ChainStatusFlags>().Where(f => f != 0 && status.HasFlag(f)).ToArray(),
        };
        return Reject(exception);
    }

    private static void AddChainProblems(List<(MasterCertificateError, string, string)> problems, X509Certificate2 leaf, List<X509Certificate2> presented, X509ChainStatusFlags status, string host)
    {
        var presentedCount = presented.Count;
        var topIssuer = presented[^1].Issuer;
        var fingerprint = CertificatePin.Sha256Fingerprint(leaf);
        var pinFix = $"pin the CA that issued it (or the master's own self-signed certificate) with {Messages.CertFileSetting}, or trust it for this master with 'det tls trust' after checking that its SHA-256 fingerprint is {fingerprint}";
        if (status.HasFlag(X509ChainStatusFlags.Revoked))
        {
            problems.Add((MasterCertificateError.Revoked, "a certificate in the chain has been revoked", "re-issue the master certificate; do not trust a revoked one"));
        }
        else if (status.HasFlag(X509ChainStatusFlags.PartialChain) && presentedCount == 1 && !string.Equals(leaf.Subject, leaf.Issuer, StringComparison.Ordinal))
        {
            problems.Add((MasterCertificateError.IncompleteChain,
                $"the server sent its certificate without any intermediate, and its issuer '{leaf.Issuer}' is neither pinned nor trusted here",
                "on the master, security.tls.cert must hold the full chain: the leaf first, then every intermediate (e.g. Let's Encrypt's fullchain.pem), and for a private CA the root too; if the issuing CA itself is not trusted, " + pinFix));
        }
        else if (status.HasFlag(X509ChainStatusFlags.PartialChain))
        {
            problems.Add((MasterCertificateError.UntrustedRoot,
                $"the chain the server sent ends at '{topIssuer}', which is neither pinned nor trusted here",
                pinFix));
        }
        else if (status.HasFlag(X509ChainStatusFlags.UntrustedRoot) || status == X509ChainStatusFlags.NoError)
        {
            var selfSigned = string.Equals(leaf.Subject, leaf.Issuer, StringComparison.Ordinal);
            problems.Add((MasterCertificateError.UntrustedRoot,
                selfSigned
                    ? $"the certificate is self-signed and not pinned for '{host}'"
                    : $"the chain ends at a root that is not trusted here (issuer '{leaf.Issuer}')",
                pinFix));
        }
        else if ((status & (X509ChainStatusFlags.RevocationStatusUnknown | X509ChainStatusFlags.OfflineRevocation)) != 0)
        {
            problems.Add((MasterCertificateError.InvalidChain,
                $"the revocation status of the chain could not be checked ({status})",
                "publish a reachable CRL for the CA, or turn revocation checking off: TlsOptions.CheckCertificateRevocation (config Determined:Tls:CheckCertificateRevocation) = false, the default for private CAs"));
        }
        else
        {
            problems.Add((MasterCertificateError.InvalidChain, $"the chain is invalid ({status})", pinFix));
        }
    }

    private MasterCertificateException Reject(MasterCertificateException exception)
    {
        SecurityTelemetry.Rejected(exception.Error);
        Log.CertificateRejected(_logger, exception.Host, exception.Error, exception.Sha256Fingerprint, exception.Message);
        return exception;
    }

    /// <summary>
    /// The extra checks cost key decoding; a master presents the same leaf on every handshake, so the last leaf that
    /// passed is remembered (compared by its DER bytes) and not checked again.
    /// </summary>
    private bool PassesExtraChecksCached(X509Certificate2 leaf)
    {
        var last = _lastGoodLeaf;
        if (last is not null && last.AsSpan().SequenceEqual(leaf.RawDataMemory.Span))
        {
            return true;
        }

        if (!PassesExtraChecks(leaf))
        {
            return false;
        }

        _lastGoodLeaf = leaf.RawData;
        return true;
    }

    /// <summary>Policy checks that a valid chain can still fail (weak key, CA as server, EKU, SHA-1 signature).</summary>
    private static bool PassesExtraChecks(X509Certificate2 leaf) =>
        CertificateNames.AllowsServerAuthentication(leaf)
        && !CertificateNames.HasWeakKey(leaf, out _)
        && !IsCaAsServer(leaf)
        && (string.Equals(leaf.Subject, leaf.Issuer, StringComparison.Ordinal) || !CertificateNames.HasWeakSignature(leaf, out _));

    /// <summary>A CA certificate without names presented as the server's own (a self-signed server certificate with CA:TRUE and names is allowed).</summary>
    private static bool IsCaAsServer(X509Certificate2 leaf) =>
        CertificateNames.IsCertificateAuthority(leaf) && !leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Any();

    private bool ReachesPinned(X509Certificate2 leaf, X509Chain? chain)
    {
        if (IsPinned(leaf))
        {
            return true;
        }

        if (chain is null)
        {
            return false;
        }

        // The chain elements were signature-checked by the builder; stop at the first pinned one.
        foreach (var element in chain.ChainElements)
        {
            var bad = element.ChainElementStatus.Aggregate(X509ChainStatusFlags.NoError, (f, s) => f | s.Status)
                & ~(X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.UntrustedRoot);
            if (bad != 0)
            {
                return false;
            }

            if (IsPinned(element.Certificate))
            {
                return true;
            }
        }

        return false;
    }

    private bool IsPinned(X509Certificate2 certificate)
    {
        foreach (var pinned in Policy.PinnedCollection)
        {
            if (pinned.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span))
            {
                return true;
            }
        }

        return false;
    }

    private X509ChainStatusFlags BuildWithSystemRoots(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented, out bool ok)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy = Policy.SystemRootsOverride is { } roots ? NewChainPolicy(roots) : NewSystemChainPolicy();
        foreach (var certificate in presented.Skip(1))
        {
            chain.ChainPolicy.ExtraStore.Add(certificate);
        }

        ok = chain.Build(leaf);
        return AllStatus(chain);
    }

    private static X509ChainStatusFlags AllStatus(X509Chain chain)
    {
        var flags = X509ChainStatusFlags.NoError;
        foreach (var s in chain.ChainStatus)
        {
            flags |= s.Status;
        }

        return flags;
    }

    private static List<X509Certificate2> Presented(X509Certificate2 leaf, X509Chain? chain)
    {
        var list = new List<X509Certificate2> { leaf };
        if (chain is not null)
        {
            foreach (var c in chain.ChainPolicy.ExtraStore)
            {
                if (!c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
                {
                    list.Add(c);
                }
            }
        }

        return list;
    }

    private X509ChainPolicy NewChainPolicy(X509Certificate2Collection roots)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = Policy.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
            // Intermediates are never fetched (a master must send its chain); CRLs only when revocation is checked.
            DisableCertificateDownloads = !Policy.CheckCertificateRevocation,
        };
        policy.CustomTrustStore.AddRange(roots);
        policy.ApplicationPolicy.Add(s_serverAuth);
        return policy;
    }

    private X509ChainPolicy NewSystemChainPolicy()
    {
        if (Policy.SystemRootsOverride is { } roots)
        {
            return NewChainPolicy(roots);
        }

        var policy = new X509ChainPolicy
        {
            RevocationMode = Policy.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
        };
        policy.ApplicationPolicy.Add(s_serverAuth);
        return policy;
    }
}
