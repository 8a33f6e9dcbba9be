namespace Determined.Security;

/// <summary>Where the trust for a master comes from.</summary>
public enum TrustSource
{
    /// <summary>The connection is plain HTTP: nothing is verified.</summary>
    None,

    /// <summary>The operating system's trusted roots.</summary>
    System,

    /// <summary>The system roots plus the pinned certificates (Determined CLI and task rule).</summary>
    PinnedAdded,

    /// <summary>Only the pinned certificates (Determined agent rule).</summary>
    PinnedOnly,

    /// <summary>Nothing is verified (<see cref="TlsOptions.DangerousSkipVerification"/>).</summary>
    DangerousSkipVerification,
}

/// <summary>What a <see cref="CertificateTrustResolver"/> decided to trust for one master URL, and why.</summary>
public sealed class TrustDecision
{
    internal TrustDecision(Uri masterUri, TrustSource source, string expectedName, string reason, int pinnedCount)
    {
        MasterUri = masterUri;
        Source = source;
        ExpectedName = expectedName;
        Reason = reason;
        PinnedCertificateCount = pinnedCount;
    }

    /// <summary>Gets the master URL the decision is for.</summary>
    public Uri MasterUri { get; }

    /// <summary>Gets what is trusted.</summary>
    public TrustSource Source { get; }

    /// <summary>Gets the name verified in the master's certificate (the URL host, or the name override); also the TLS server name sent.</summary>
    public string ExpectedName { get; }

    /// <summary>Gets how many certificates are pinned.</summary>
    public int PinnedCertificateCount { get; }

    /// <summary>Gets a sentence that says why this trust applies, naming the settings involved.</summary>
    public string Reason { get; }

    /// <inheritdoc />
    public override string ToString() => $"{MasterUri}: {Source}, name '{ExpectedName}' ({Reason})";
}
