using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Security;

/// <summary>
/// Decides, for one master URL, what to trust and which name to verify, and checks the certificates a master
/// presents against that decision. Thread-safe; create one per <see cref="TlsPolicy"/> and reuse it.
/// </summary>
/// <remarks>
/// <para>Trust is handed to the platform as an <see cref="X509ChainPolicy"/> with <see cref="X509ChainTrustMode.CustomRootTrust"/>
/// whenever certificates are pinned, so a handshake builds the chain once (nothing is ever downloaded). The validation
/// callback then applies the server-certificate profile (docs/SECURITY-PROFILE.md) to the path the platform built, once
/// per chain (the result is cached by the chain's bytes), and classifies failures (in
/// <see cref="MasterTrustMode.PinnedAdded"/> it retries against the system roots when the pinned ones do not apply), so
/// every rejection is a <see cref="MasterConnectionException"/> that names the problem.</para>
/// <para>Reload: when a file the policy read changes (checked at most every <see cref="TlsOptions.ReloadCheckInterval"/>
/// by the handlers that use this resolver), the resolver loads it again and <see cref="Policy"/> becomes the new policy;
/// a broken replacement is refused and logged, and the current policy kept. Options created before keep judging with the
/// policy they were created with.</para>
/// <para>Extension point: <see cref="CreateSslClientAuthenticationOptions"/> is what every handler of
/// <see cref="MasterHttpHandlerFactory"/> uses for its connections (also after a reload); override it to adjust them.</para>
/// </remarks>
public class CertificateTrustResolver
{
    private readonly ILogger _logger;
    private readonly PolicyReloader _reloader;
    private readonly Lock _swap = new();
    private volatile TrustEvaluator _current;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="policy">The validated TLS settings.</param>
    /// <param name="logger">Where trust decisions and rejections are logged; <see langword="null"/> for none.</param>
    /// <param name="timeProvider">The clock every certificate's validity is judged at (and messages quote); <see langword="null"/> for the system clock.</param>
    public CertificateTrustResolver(TlsPolicy policy, ILogger<CertificateTrustResolver>? logger = null, TimeProvider? timeProvider = null)
        : this(policy, (ILogger?)logger ?? NullLogger.Instance, timeProvider)
    {
    }

    internal CertificateTrustResolver(TlsPolicy policy, ILogger logger, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _logger = logger;
        TimeProvider = timeProvider ?? TimeProvider.System;
        _current = new TrustEvaluator(policy, logger, TimeProvider, systemRootsOverride: null);
        _reloader = new PolicyReloader(policy, TimeProvider);
    }

    /// <summary>Gets the settings this resolver applies now (a reload replaces them).</summary>
    public TlsPolicy Policy => _current.Policy;

    /// <summary>Gets the clock every certificate's validity is judged at.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>For tests: the roots that stand in for the operating system's store; <see langword="null"/> means the real store.</summary>
    internal X509Certificate2Collection? SystemRootsOverride
    {
        get => _current.SystemRootsOverride;
        set
        {
            lock (_swap)
            {
                _current = new TrustEvaluator(_current.Policy, _logger, TimeProvider, value);
            }
        }
    }

    /// <summary>Decides what is trusted for a master URL and which name is verified, and logs the decision (event 1001, debug).</summary>
    /// <param name="masterUri">The master URL (<c>https://host:port</c> or <c>http://…</c>).</param>
    /// <returns>The decision with its reason.</returns>
    public TrustDecision Resolve(Uri masterUri)
    {
        ThrowIfInvalid(masterUri);
        var decision = _current.Decide(masterUri);
        Log.TrustDecided(_logger, masterUri, decision.Anchors, decision.ExpectedName, decision.Reason);
        SecurityTelemetry.Decided(decision.Anchors);
        return decision;
    }

    /// <summary>
    /// Creates the options for a TLS connection to this master: target host (the name override when set), protocols,
    /// trust (the validation callback that applies the whole policy) and client certificate. Every connection of a
    /// <see cref="MasterHttpHandlerFactory"/> handler uses them, as may a raw <see cref="SslStream"/>.
    /// </summary>
    /// <param name="masterUri">The master URL.</param>
    /// <returns>New options; the caller may change them.</returns>
    /// <remarks>Overrides may adjust what the base method returns (for example add a check to its validation callback);
    /// weakening its validation defeats the policy.</remarks>
    public virtual SslClientAuthenticationOptions CreateSslClientAuthenticationOptions(Uri masterUri)
    {
        ThrowIfInvalid(masterUri);
        var current = _current;
        var decision = current.Decide(masterUri);
        var options = current.CreateSslOptions(decision);
        options.TargetHost = decision.ExpectedName;
        return options;
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
    public void ValidateCertificate(Uri masterUri, X509Certificate2 certificate, X509Certificate2Collection? additionalCertificates = null)
    {
        ThrowIfInvalid(masterUri);
        ArgumentNullException.ThrowIfNull(certificate);
        var current = _current;
        current.ValidateCertificate(current.Decide(masterUri), certificate, additionalCertificates);
    }

    /// <summary>Judges a chain the platform built, with the current policy (see <see cref="TrustEvaluator.Evaluate"/>).</summary>
    internal MasterConnectionException? Evaluate(string host, X509Certificate2? leaf, X509Chain? chain, SslPolicyErrors errors) =>
        _current.Evaluate(host, leaf, chain, errors);

    /// <summary>
    /// At most once per <see cref="TlsOptions.ReloadCheckInterval"/>, and on one thread: when a file the policy read
    /// changed, loads the policy again. Returns the policy in force (the same object when nothing changed).
    /// </summary>
    internal TlsPolicy MaybeReload()
    {
        // The swap happens inside the reloader's single-flight section: a reload that finishes late can never undo a later one.
        _reloader.TryReload(_logger, reloaded =>
        {
            lock (_swap)
            {
                _current = new TrustEvaluator(reloaded, _logger, TimeProvider, _current.SystemRootsOverride);
            }
        });
        return _current.Policy;
    }

    private static void ThrowIfInvalid(Uri masterUri)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        if (!masterUri.IsAbsoluteUri)
        {
            throw new ArgumentException($"The master URL '{masterUri}' must be absolute, e.g. https://master.example.com:8443.", nameof(masterUri));
        }
    }
}
