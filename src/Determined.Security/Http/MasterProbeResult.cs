using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>What <see cref="MasterProbe"/> saw on a master's port.</summary>
public sealed class MasterProbeResult
{
    internal MasterProbeResult(Uri masterUri, string targetHost, List<X509Certificate2> chain, SslProtocols? protocol, TlsCipherSuite? cipherSuite, bool speaksPlainHttp, string? error, MasterConnectionException? failure = null)
    {
        Failure = failure;
        MasterUri = masterUri;
        TargetHost = targetHost;
        PresentedChain = chain;
        Protocol = protocol;
        CipherSuite = cipherSuite;
        SpeaksPlainHttp = speaksPlainHttp;
        ErrorText = error;
    }

    /// <summary>Gets the probed URL.</summary>
    public Uri MasterUri { get; }

    /// <summary>Gets the TLS server name that was sent (no SNI is sent for IP addresses).</summary>
    public string TargetHost { get; }

    /// <summary>Gets a value indicating whether a TLS handshake completed.</summary>
    public bool SpeaksTls => Protocol is not null;

    /// <summary>Gets a value indicating whether the port answered a plain HTTP request instead of TLS.</summary>
    public bool SpeaksPlainHttp { get; }

    /// <summary>Gets the certificates the server presented, leaf first (empty when no handshake happened).</summary>
    public IReadOnlyList<X509Certificate2> PresentedChain { get; }

    /// <summary>Gets the negotiated protocol, or <see langword="null"/>.</summary>
    public SslProtocols? Protocol { get; }

    /// <summary>Gets the negotiated cipher suite, or <see langword="null"/> when no handshake completed or the platform did not report it.</summary>
    public TlsCipherSuite? CipherSuite { get; }

    /// <summary>Gets why the probe failed as unclassified text, or <see langword="null"/>.</summary>
    [Obsolete("Use Failure: the classified failure (its Error, Message and SuggestedFix). Every failed probe has one.")]
    public string? Error => ErrorText;

    /// <summary>The platform's text of the failure (for messages that quote it).</summary>
    internal string? ErrorText { get; }

    /// <summary>
    /// Gets the classified failure when the probe could not complete a handshake, or <see langword="null"/>: where it
    /// stopped (<see cref="MasterConnectionError.ConnectionRefused"/>, <see cref="MasterConnectionError.NameNotResolved"/>,
    /// <see cref="MasterConnectionError.ProxyFailed"/>, <see cref="MasterConnectionError.PlaintextServer"/>,
    /// <see cref="MasterConnectionError.HandshakeFailed"/>, …), with the message and the fix.
    /// </summary>
    public MasterConnectionException? Failure { get; }

    /// <summary>Returns the presented chain as PEM, leaf first: what trust on first use stores.</summary>
    /// <returns>PEM text.</returns>
    public string ExportChainPem() => Determined.Security.PresentedChain.ToPem(PresentedChain);
}
