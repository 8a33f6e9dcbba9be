using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// A master's TLS endpoint could not be trusted or reached over TLS. The message names the problem, what the
/// master presented, and the setting or command that fixes it; the properties carry the same facts for code.
/// </summary>
public sealed class MasterConnectionException : DeterminedException
{
    /// <summary>Initializes a new instance with a message (for serializers and tests; prefer the SDK's own instances).</summary>
    public MasterConnectionException()
        : this(MasterConnectionError.InvalidChain, string.Empty, "The master's certificate could not be verified.", string.Empty)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="error">The class of failure.</param>
    /// <param name="host">The host (or name override) that was verified.</param>
    /// <param name="message">The full message.</param>
    /// <param name="suggestedFix">What to change.</param>
    /// <param name="presentedChain">The certificates the master presented, leaf first; may be empty.</param>
    /// <param name="innerException">The cause, if any.</param>
    public MasterConnectionException(
        MasterConnectionError error,
        string host,
        string message,
        string suggestedFix,
        IReadOnlyList<X509Certificate2>? presentedChain = null,
        Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(suggestedFix);
        Error = error;
        Host = host;
        SuggestedFix = suggestedFix;
        var chain = presentedChain ?? [];
        PresentedChain = chain.Select(CertificateSummary.Create).ToArray();
        Sha256Fingerprint = PresentedChain.Count > 0 ? PresentedChain[0].Sha256Fingerprint : null;
        PresentedNames = PresentedChain.Count > 0 ? PresentedChain[0].Names.ToArray() : [];
        Errors = [error];
    }

    /// <summary>Gets the class of failure (the primary one when several apply).</summary>
    public MasterConnectionError Error { get; }

    /// <summary>Gets every class of failure found, primary first.</summary>
    public IReadOnlyList<MasterConnectionError> Errors { get; internal init; }

    /// <summary>Gets the host or name that was verified (the name override when one is set).</summary>
    public string Host { get; }

    /// <summary>Gets the SHA-256 fingerprint of the presented leaf certificate, as Determined prints it, or <see langword="null"/> when none was presented.</summary>
    public string? Sha256Fingerprint { get; }

    /// <summary>Gets the DNS names and IP addresses of the presented leaf certificate.</summary>
    public IReadOnlyList<string> PresentedNames { get; }

    /// <summary>Gets the presented certificates, leaf first.</summary>
    public IReadOnlyList<CertificateSummary> PresentedChain { get; }

    /// <summary>Gets the TLS policy errors reported by the platform.</summary>
    public SslPolicyErrors PolicyErrors { get; internal init; }

    /// <summary>Gets the chain status flags of the chain that was built.</summary>
    public IReadOnlyList<X509ChainStatusFlags> ChainStatus { get; internal init; } = [];

    /// <summary>Gets what to change so the connection succeeds.</summary>
    public string SuggestedFix { get; }

    /// <summary>
    /// Gets a value indicating whether the same call may succeed later: true when the master could not be reached at
    /// all (<see cref="MasterConnectionError.ConnectionRefused"/>, <see cref="MasterConnectionError.ConnectionClosed"/>,
    /// <see cref="MasterConnectionError.ConnectTimeout"/>, <see cref="MasterConnectionError.NetworkUnreachable"/>), as
    /// while it restarts. Certificate, name and configuration failures are never transient.
    /// </summary>
    public override bool IsTransient => Error is MasterConnectionError.ConnectionRefused or MasterConnectionError.ConnectionClosed or MasterConnectionError.ConnectTimeout or MasterConnectionError.NetworkUnreachable;
}
