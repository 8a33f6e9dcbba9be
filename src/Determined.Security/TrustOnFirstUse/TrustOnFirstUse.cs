using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Security;

/// <summary>
/// Trust on first use, as Determined's CLI does it and better: the first time a master presents a certificate that
/// does not validate, its chain is shown (or checked against an expected fingerprint) and stored in
/// <c>certs.json</c>; later connections trust the stored chain. A renewed certificate from the same CA, or with the
/// same key, keeps working; a different key is refused loudly, never silently re-prompted.
/// </summary>
public sealed class TrustOnFirstUse
{
    private readonly ILogger _logger;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="store">Where trusted chains are kept.</param>
    /// <param name="logger">Where trust events are logged.</param>
    public TrustOnFirstUse(MasterCertificateStore store, ILogger<TrustOnFirstUse>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        Store = store;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>The environment variable (this SDK's own) holding the expected fingerprint for non-interactive trust.</summary>
    public static string ExpectedFingerprintVariable => DeterminedEnvironment.TrustFingerprint;

    /// <summary>Gets the store of trusted chains.</summary>
    public MasterCertificateStore Store { get; }

    /// <summary>
    /// Gets or sets the expected certificate (leaf SHA-256 fingerprint or SPKI pin) for non-interactive trust: a chain
    /// containing it is trusted and stored without a prompt; any other chain is refused with both values shown.
    /// </summary>
    public CertificatePin? ExpectedPin { get; set; }

    /// <summary>
    /// Gets or sets the decision callback shown an untrusted certificate (e.g. a console prompt with
    /// <see cref="CertificateTrustRequest.PromptText"/>). Without it, and without <see cref="ExpectedPin"/>, an untrusted
    /// certificate fails with its fingerprint and the command that trusts it.
    /// </summary>
    public Func<CertificateTrustRequest, CancellationToken, ValueTask<bool>>? Prompt { get; set; }

    /// <summary>Reads <see cref="ExpectedFingerprintVariable"/> from the process environment.</summary>
    /// <returns>The pin, or <see langword="null"/> when the variable is unset.</returns>
    /// <exception cref="DeterminedConfigurationException">The variable is set but is not a fingerprint or pin.</exception>
    public static CertificatePin? ExpectedPinFromEnvironment() => ExpectedPinFromEnvironment(null);

    internal static CertificatePin? ExpectedPinFromEnvironment(Func<string, string?>? getEnvironmentVariable)
    {
        var value = new DeterminedEnvironment(getEnvironmentVariable).Get(DeterminedEnvironment.TrustFingerprint);
        if (value is null)
        {
            return null;
        }

        return CertificatePin.TryParse(value, out var pin)
            ? pin
            : throw new DeterminedConfigurationException($"{DeterminedEnvironment.TrustFingerprint}: " + Messages.BadPin(value));
    }

    /// <summary>
    /// Returns the policy that trusts the stored chain for a master when the policy pins nothing itself (upstream's
    /// precedence: an explicit file, inline PEM or <c>noverify</c> wins over the store; a name override is kept with the
    /// stored chain). Migrates a legacy <c>master.crt</c> first.
    /// </summary>
    /// <param name="masterUri">The master URL.</param>
    /// <param name="policy">The policy to start from.</param>
    /// <returns>The policy with the stored chain pinned, or <paramref name="policy"/> when nothing applies.</returns>
    /// <exception cref="DeterminedException">The store or its entry for this master is unreadable; the message names the file and the fix.</exception>
    public TlsPolicy ApplyStoredTrust(Uri masterUri, TlsPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        ArgumentNullException.ThrowIfNull(policy);
        if (TrustPrecedence.PinsTrust(policy.Selection))
        {
            return policy;
        }

        var url = MasterAddress.Canonicalize(masterUri);
        Store.MigrateLegacyCertificate(url);
        return policy.WithStoredChain(Store.Get(url));
    }

    /// <summary>
    /// Runs an operation against a master with the stored trust; when it fails because the master's certificate is
    /// not trusted, applies trust on first use (expected pin, prompt, rotation rules), stores the chain and retries once.
    /// </summary>
    /// <typeparam name="T">The operation's result.</typeparam>
    /// <param name="masterUri">The master URL.</param>
    /// <param name="policy">The TLS policy (pinned trust material disables trust on first use).</param>
    /// <param name="operation">The call to make with a policy, e.g. <c>GET /info</c>.</param>
    /// <param name="cancellationToken">Cancels the operation and any prompt.</param>
    /// <returns>The operation's result.</returns>
    public async Task<T> ExecuteAsync<T>(Uri masterUri, TlsPolicy policy, Func<TlsPolicy, CancellationToken, Task<T>> operation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(operation);
        var url = MasterAddress.Canonicalize(masterUri);
        var effective = ApplyStoredTrust(masterUri, policy);
        try
        {
            return await operation(effective, cancellationToken).ConfigureAwait(false);
        }
        catch (MasterConnectionException ex) when (ex.Error is MasterConnectionError.UntrustedRoot or MasterConnectionError.IncompleteChain && !TrustPrecedence.PinsTrust(policy.Selection))
        {
            await TrustPresentedChainAsync(masterUri, policy.MasterCertificateName, await Store.GetAsync(url, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }

        return await operation(ApplyStoredTrust(masterUri, policy), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Trusts what a master presents now, applying the same rules as a first contact: the expected pin when set, else
    /// the prompt; a stored entry with another key is replaced only when <see cref="ExpectedPin"/> matches the new one.
    /// </summary>
    /// <param name="masterUri">The master URL.</param>
    /// <param name="certificateName">The TLS server name to send (the name override), if any.</param>
    /// <param name="cancellationToken">Cancels the probe and any prompt.</param>
    /// <returns>The trusted leaf.</returns>
    public async Task<CertificateSummary> TrustAsync(Uri masterUri, string? certificateName = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        var url = MasterAddress.Canonicalize(masterUri);
        return await TrustPresentedChainAsync(masterUri, certificateName, await Store.GetAsync(url, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
    }

    private async Task<CertificateSummary> TrustPresentedChainAsync(Uri masterUri, string? certificateName, string? storedPem, CancellationToken cancellationToken)
    {
        var url = MasterAddress.Canonicalize(masterUri);
        var probe = await MasterProbe.ProbeAsync(masterUri, certificateName, cancellationToken).ConfigureAwait(false);
        if (probe.PresentedChain.Count == 0 || probe.ErrorText is not null)
        {
            // Only a completed handshake proves the server holds the leaf's key; a chain captured from a failed one is
            // never trusted. The probe says where it stopped (refused, unresolved, a proxy, plain HTTP, the handshake).
            throw probe.Failure ?? new MasterConnectionException(MasterConnectionError.HandshakeFailed, masterUri.IdnHost, Messages.Failure(MasterConnectionError.HandshakeFailed, masterUri.IdnHost, null, $"no certificate could be fetched from {url} ({probe.ErrorText})", "check the URL and port of the master"), "check the URL and port of the master");
        }

        var chain = VerifiedChain(probe.PresentedChain);
        var leaf = chain[0];
        var summary = CertificateSummary.Create(leaf);
        var stored = FirstCertificate(storedPem);
        if (stored is not null)
        {
            if (CertificatePin.SpkiPin(stored) == summary.SpkiPin)
            {
                RequireAcceptedOnceStored(masterUri, certificateName, chain);
                // Same key as the trusted leaf: store the renewed chain, but only what is linked to the proven leaf.
                await StoreChainAsync(url, storedPem, chain, cancellationToken).ConfigureAwait(false);
                var oldFingerprint = CertificatePin.Sha256Fingerprint(stored);
                SecurityTelemetry.FirstUse("renewed");
                Log.CertificateRenewedSameKey(_logger, url, summary.SpkiPin, oldFingerprint, summary.Sha256Fingerprint);
                return summary;
            }

            if (ExpectedPin is not null && MatchesChain(ExpectedPin, chain))
            {
                RequireAcceptedOnceStored(masterUri, certificateName, chain);
                await StoreChainAsync(url, storedPem, chain, cancellationToken).ConfigureAwait(false);
                var oldFingerprint = CertificatePin.Sha256Fingerprint(stored);
                SecurityTelemetry.FirstUse("replaced");
                Log.CertificateReplacedByExpectedPin(_logger, url, oldFingerprint, summary.Sha256Fingerprint);
                return summary;
            }

            var changed = CertificateChanged(url, masterUri.IdnHost, stored, leaf, chain);
            SecurityTelemetry.FirstUse("changed");
            Log.CertificateChanged(_logger, url, CertificatePin.Sha256Fingerprint(stored), CertificatePin.Sha256Fingerprint(leaf), changed.SuggestedFix);
            throw changed;
        }

        // A first contact: what is never offered, matched against a pin or suggested to 'det tls trust' is a chain that
        // the retried request would refuse anyway (expired, wrong name, broken self-signature ...): that refusal comes now.
        RequireAcceptedOnceStored(masterUri, certificateName, chain);
        if (ExpectedPin is not null)
        {
            if (!MatchesChain(ExpectedPin, chain))
            {
                var fix = $"check the master's certificate out of band; if the presented one is right, use its fingerprint: {summary.Sha256Fingerprint}";
                throw new MasterConnectionException(
                    MasterConnectionError.PinMismatch,
                    masterUri.IdnHost,
                    Messages.Failure(MasterConnectionError.PinMismatch, masterUri.IdnHost, leaf, $"the expected certificate {ExpectedPin} is not in the presented chain (leaf SHA-256 {summary.Sha256Fingerprint}, SPKI {summary.SpkiPin})", fix),
                    fix,
                    chain);
            }

            await StoreChainAsync(url, storedPem, chain, cancellationToken).ConfigureAwait(false);
            SecurityTelemetry.FirstUse("trusted");
            Log.CertificateTrusted(_logger, url, summary.Sha256Fingerprint, "matched the expected fingerprint", Store.FilePath);
            return summary;
        }

        var request = new CertificateTrustRequest(url, chain.Select(CertificateSummary.Create).ToArray());
        if (Prompt is null)
        {
            var fix = $"check the fingerprint out of band, then trust it with 'det tls trust -m {url} --fingerprint {summary.Sha256Fingerprint}', or set {DeterminedEnvironment.TrustFingerprint}={summary.Sha256Fingerprint}, or pin its CA with {Messages.CertFileSetting}";
            throw new MasterConnectionException(
                MasterConnectionError.NotTrusted,
                masterUri.IdnHost,
                Messages.Failure(MasterConnectionError.NotTrusted, masterUri.IdnHost, leaf, $"the master's certificate is not trusted and no one can be asked (no terminal, no expected fingerprint); its SHA-256 fingerprint is {summary.Sha256Fingerprint}", fix),
                fix,
                chain);
        }

        if (!await Prompt(request, cancellationToken).ConfigureAwait(false))
        {
            SecurityTelemetry.FirstUse("rejected");
            var fix = $"to connect, trust the certificate after checking its fingerprint ({summary.Sha256Fingerprint}), or pin its CA with {Messages.CertFileSetting}";
            throw new MasterConnectionException(
                MasterConnectionError.NotTrusted,
                masterUri.IdnHost,
                $"{CertificateTrustRequest.RejectedMessage}: the certificate of {url} (SHA-256 {summary.Sha256Fingerprint}) was not trusted. Fix: {fix}",
                fix,
                chain);
        }

        await StoreChainAsync(url, storedPem, chain, cancellationToken).ConfigureAwait(false);
        SecurityTelemetry.FirstUse("trusted");
        Log.CertificateTrusted(_logger, url, summary.Sha256Fingerprint, "accepted at the prompt", Store.FilePath);
        return summary;
    }

    private static MasterConnectionException CertificateChanged(string url, string host, X509Certificate2 stored, X509Certificate2 presented, IReadOnlyList<X509Certificate2> chain)
    {
        var old = CertificateSummary.Create(stored);
        var now = CertificateSummary.Create(presented);
        var fix = $"check the new certificate out of band (on the master: openssl x509 -noout -fingerprint -sha256 -in <its cert file>); if it is right, accept it with 'det tls trust -m {url} --fingerprint {now.Sha256Fingerprint}' (or {DeterminedEnvironment.TrustFingerprint}={now.Sha256Fingerprint}), or remove the old entry with 'det tls forget {url}'";
        var detail =
            $"THE MASTER'S CERTIFICATE HAS CHANGED. The master now presents a certificate with a different key than the one trusted for it; the certificate may have been replaced, or someone may be intercepting this connection. " +
            $"Trusted: SHA-256 {old.Sha256Fingerprint}, '{old.Subject}', valid {Messages.Date(old.NotBefore)} to {Messages.Date(old.NotAfter)}. " +
            $"Presented: SHA-256 {now.Sha256Fingerprint}, '{now.Subject}', valid {Messages.Date(now.NotBefore)} to {Messages.Date(now.NotAfter)}";
        return new MasterConnectionException(MasterConnectionError.CertificateChanged, host, Messages.Failure(MasterConnectionError.CertificateChanged, host, null, detail, fix), fix, chain);
    }

    /// <summary>
    /// The part of what the server presented that is cryptographically linked to its leaf, leaf first: the leaf (whose key
    /// the completed handshake proved), then each issuer whose signature verifies, up to the root when the server sent it.
    /// Unrelated certificates a server (or an attacker) adds are never stored, and so never become trust anchors.
    /// </summary>
    private static List<X509Certificate2> VerifiedChain(IReadOnlyList<X509Certificate2> presented)
    {
        // With or without an expected pin the same chain is kept: the leaf and every issuer linked to it by signature, up to
        // the root when the server sent it (what Python's client needs in certs.json). The caller then requires the pin to
        // be in that chain, so a pin matching only an appended, unlinked certificate is refused.
        var leaf = presented[0];
        var others = presented.Skip(1).ToList();
        if (others.Count == 0)
        {
            return [leaf];
        }

        // Linked by signature, trusted or not: nothing here is a trust anchor.
        using var chain = new X509Chain { ChainPolicy = ChainPolicies.LinkOnly(others) };
        try
        {
            chain.Build(leaf);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return [leaf]; // the platform cannot process what the server added (an explicit-curve key, say): keep only the proven leaf
        }

        var linked = new List<X509Certificate2>();
        foreach (var element in chain.ChainElements)
        {
            var status = element.ChainElementStatus.Aggregate(X509ChainStatusFlags.NoError, (f, e) => f | e.Status);
            if ((status & (X509ChainStatusFlags.NotSignatureValid | X509ChainStatusFlags.Revoked | X509ChainStatusFlags.HasNotSupportedCriticalExtension | X509ChainStatusFlags.InvalidBasicConstraints)) != 0)
            {
                break;
            }

            var original = presented.FirstOrDefault(p => p.RawDataMemory.Span.SequenceEqual(element.Certificate.RawDataMemory.Span));
            if (original is null)
            {
                break;
            }

            linked.Add(original);
        }

        return linked.Count == 0 ? [leaf] : linked;
    }

    /// <summary>
    /// Judges the chain as the retried request will once it is stored: pinned (only it, as Determined's Python client trusts
    /// a stored chain), for the same name, by the same profile. Nothing is stored or offered that would be refused next.
    /// </summary>
    /// <exception cref="MasterConnectionException">The chain would be refused even when trusted; the message names the defect.</exception>
    private static void RequireAcceptedOnceStored(Uri masterUri, string? certificateName, List<X509Certificate2> chain)
    {
        // A configuration error here can only be the name override (the certificates come from a completed handshake).
        var asStored = TlsPolicy.Create(new TlsOptions { MasterCertificatePem = Pem(chain), MasterCertificateName = certificateName, TrustMode = MasterTrustMode.PinnedOnly });
        new CertificateTrustResolver(asStored).ValidateCertificate(masterUri, chain[0], [.. chain.Skip(1)]);
    }

    private static string Pem(IEnumerable<X509Certificate2> chain) => PresentedChain.ToPem(chain);

    /// <summary>Writes the decided chain only over the entry the decision was made on (another process may have changed it).</summary>
    private async Task StoreChainAsync(string url, string? decidedOn, IEnumerable<X509Certificate2> chain, CancellationToken cancellationToken)
    {
        if (!await Store.ReplaceAsync(url, decidedOn, Pem(chain), cancellationToken).ConfigureAwait(false))
        {
            throw new DeterminedStoreException($"The trust store entry for {url} in '{Store.FilePath}' changed while this process was deciding (another 'det' or SDK process trusted a certificate meanwhile); nothing was stored. Fix: run the command again: the new entry is then checked like any stored one.", Store.FilePath);
        }
    }

    private static bool MatchesChain(CertificatePin pin, IReadOnlyList<X509Certificate2> chain) =>
        chain.Any(pin.Matches);

    private static X509Certificate2? FirstCertificate(string? pem)
    {
        if (pem is null)
        {
            return null;
        }

        foreach (var (label, der) in CertificateFormats.EnumeratePem(pem))
        {
            if (label == "CERTIFICATE")
            {
                try
                {
                    return X509CertificateLoader.LoadCertificate(der);
                }
                catch (System.Security.Cryptography.CryptographicException)
                {
                    return null;
                }
            }
        }

        return null;
    }
}
