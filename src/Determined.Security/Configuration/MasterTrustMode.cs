namespace Determined.Security;

/// <summary>How a pinned certificate file combines with the operating system's trusted roots.</summary>
public enum MasterTrustMode
{
    /// <summary>
    /// The system roots <em>plus</em> the pinned certificates, as Determined's CLI and task code do
    /// (<c>DET_MASTER_CERT_FILE</c>): pinning a private CA never breaks a master with a public certificate.
    /// With nothing pinned this is plain system trust.
    /// </summary>
    PinnedAdded,

    /// <summary>
    /// Only the pinned certificates are trusted, as Determined's agent does with <c>security.tls.master_cert</c>:
    /// the system roots are ignored.
    /// </summary>
    PinnedOnly,
}
