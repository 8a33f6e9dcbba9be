namespace Determined.Security;

/// <summary>What a master's certificate chain must reach to be trusted (the outcome of <see cref="MasterTrustMode"/>, the pins and the URL scheme).</summary>
public enum TrustAnchors
{
    /// <summary>The connection is plain HTTP: nothing is encrypted or verified.</summary>
    PlainHttp,

    /// <summary>The operating system's trusted roots (nothing is pinned).</summary>
    SystemRoots,

    /// <summary>The system roots or a pinned certificate (<see cref="MasterTrustMode.PinnedAdded"/>: Determined's CLI and task rule).</summary>
    SystemRootsAndPinned,

    /// <summary>Only the pinned certificates (<see cref="MasterTrustMode.PinnedOnly"/>: Determined's agent rule).</summary>
    PinnedOnly,

    /// <summary>Nothing: every certificate is accepted (<see cref="TlsOptions.DangerousSkipVerification"/>).</summary>
    DangerousNone,
}

/// <summary>What a <see cref="CertificateTrustResolver"/> decided to trust for one master URL, and why.</summary>
public sealed class TrustDecision
{
    internal TrustDecision(Uri masterUri, TrustAnchors anchors, string? nameOverride, string reason, int pinnedCount)
    {
        MasterUri = masterUri;
        Anchors = anchors;
        NameOverride = nameOverride;
        ExpectedName = ExpectedNameFor(masterUri, nameOverride);
        Reason = reason;
        PinnedCertificateCount = pinnedCount;
    }

    /// <summary>Gets the master URL the decision is for.</summary>
    public Uri MasterUri { get; }

    /// <summary>Gets what the master's chain must reach to be trusted.</summary>
    public TrustAnchors Anchors { get; }

    /// <summary>Gets the name verified in the master's certificate (the URL host, or the name override); also the TLS server name sent.</summary>
    public string ExpectedName { get; }

    /// <summary>Gets how many certificates are pinned.</summary>
    public int PinnedCertificateCount { get; }

    /// <summary>Gets a sentence that says why this trust applies, naming the settings involved.</summary>
    public string Reason { get; }

    /// <summary>The name override in force (what is verified whatever the connection's target host), or <see langword="null"/>.</summary>
    internal string? NameOverride { get; }

    /// <summary>
    /// The one rule for the name a master's certificate must carry: the name override when set
    /// (<see cref="TlsOptions.MasterCertificateName"/>), else the URL's host.
    /// </summary>
    internal static string ExpectedNameFor(Uri masterUri, string? nameOverride) =>
        string.IsNullOrWhiteSpace(nameOverride) ? masterUri.IdnHost : nameOverride.Trim();

    /// <summary>
    /// The name a handshake verifies: the override when set, whatever the stream's target host says (never the URL host);
    /// else the connection's target host, or <see cref="ExpectedName"/> when it has none.
    /// </summary>
    internal string VerifiedName(string? targetHost) => NameOverride ?? (targetHost is { Length: > 0 } target ? target : ExpectedName);

    /// <inheritdoc />
    public override string ToString() => $"{MasterUri}: {Anchors}, name '{ExpectedName}' ({Reason})";
}
