namespace Determined.Security;

/// <summary>
/// What went wrong when a master's TLS endpoint was checked. Each value has an entry in TROUBLESHOOTING.md.
/// </summary>
public enum MasterConnectionError
{
    /// <summary>The chain does not end at a trusted root (a private CA that is not pinned, or a self-signed certificate).</summary>
    UntrustedRoot,

    /// <summary>The chain could not be completed: the server did not send an intermediate certificate.</summary>
    IncompleteChain,

    /// <summary>The certificate's DNS and IP names do not include the name that was verified.</summary>
    NameMismatch,

    /// <summary>The certificate (or one in its chain) has expired.</summary>
    Expired,

    /// <summary>The certificate (or one in its chain) is not valid yet.</summary>
    NotYetValid,

    /// <summary>The certificate's extended key usage does not allow TLS server authentication.</summary>
    WrongKeyUsage,

    /// <summary>The server presented a CA certificate as its own certificate.</summary>
    CaCertificateAsServer,

    /// <summary>A key in the chain is refused: RSA below 2048 bits, DSA, or an EC curve other than P-256, P-384 and P-521.</summary>
    WeakKey,

    /// <summary>A certificate in the chain (other than the trust anchor) is signed with a broken algorithm (MD5 or SHA-1).</summary>
    WeakSignature,

    /// <summary>A certificate in the chain has been revoked.</summary>
    Revoked,

    /// <summary>The chain failed validation for another reason; the chain status lists it.</summary>
    InvalidChain,

    /// <summary>The server sent no certificate.</summary>
    NoCertificate,

    /// <summary>An <c>https://</c> URL was used but the port speaks plain HTTP.</summary>
    PlaintextServer,

    /// <summary>An <c>http://</c> URL was used but the port speaks TLS.</summary>
    TlsServerOnPlaintextUrl,

    /// <summary>An <c>http://</c> URL was refused because encryption is required.</summary>
    EncryptionRequired,

    /// <summary>The TLS handshake failed before any certificate was checked (protocol version, cipher suites, client certificate).</summary>
    HandshakeFailed,

    /// <summary>None of the presented certificates matches the expected SHA-256 fingerprint or SPKI pin.</summary>
    PinMismatch,

    /// <summary>The master presented a certificate with a different key than the one stored for it (trust on first use).</summary>
    CertificateChanged,

    /// <summary>The certificate was shown for trust on first use and was not accepted.</summary>
    NotTrusted,

    /// <summary>A certificate in the chain is malformed (bad encoding, duplicate or empty extensions, an invalid DNS name, a bad serial number).</summary>
    MalformedCertificate,

    /// <summary>A name of the server certificate is outside what a CA's name constraints allow, or the constraints themselves are invalid.</summary>
    NameConstraintViolation,

    /// <summary>
    /// Nothing listens at the master's address and port (the connection was refused): the master is not running, is
    /// restarting, or the port is wrong. Transient: a retry succeeds once the master is up.
    /// </summary>
    ConnectionRefused,

    /// <summary>
    /// The server accepted the connection and then closed or reset it before the TLS handshake or an answer (a master
    /// shutting down, a load balancer with no backend, a service that is not a master). Transient.
    /// </summary>
    ConnectionClosed,

    /// <summary>The TCP connection was not established in time (a host that drops packets, a firewall). Transient.</summary>
    ConnectTimeout,

    /// <summary>The master's host name does not resolve (a typo in the URL, a name only known inside the cluster). Not transient.</summary>
    NameNotResolved,

    /// <summary>No route to the master's network or host (a down interface, a VPN not connected). Transient.</summary>
    NetworkUnreachable,

    /// <summary>The HTTP proxy in use could not be reached or refused the tunnel to the master (the proxy environment variables). Not transient.</summary>
    ProxyFailed,
}
