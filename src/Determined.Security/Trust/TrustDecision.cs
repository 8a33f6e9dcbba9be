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
    internal TrustDecision(Uri masterUri, TrustAnchors anchors, string expectedName, string reason, int pinnedCount)
    {
        MasterUri = masterUri;
        Anchors = anchors;
        ExpectedName = expectedName;
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

    /// <inheritdoc />
    public override string ToString() => $"{MasterUri}: {Anchors}, name '{ExpectedName}' ({Reason})";
}
