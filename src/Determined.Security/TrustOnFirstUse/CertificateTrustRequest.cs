namespace Determined.Security;

/// <summary>
/// An untrusted master certificate shown to a person (or a policy) for trust on first use: everything needed to
/// check it out of band, and Determined's prompt wording.
/// </summary>
public sealed class CertificateTrustRequest
{
    /// <summary>The first line of Determined's prompt.</summary>
    internal const string PromptHeader = "The master sent an untrusted certificate chain with this SHA256 fingerprint:";

    /// <summary>The question of Determined's prompt (answered with y or n).</summary>
    internal const string PromptQuestion = "Do you want to trust this certificate from now on? [y/n]: ";

    /// <summary>What Determined prints when the answer is no.</summary>
    internal const string RejectedMessage = "Unable to verify master certificate";

    internal CertificateTrustRequest(string masterUrl, IReadOnlyList<CertificateSummary> chain)
    {
        MasterUrl = masterUrl;
        Chain = chain;
    }

    /// <summary>Gets the canonical master URL.</summary>
    public string MasterUrl { get; }

    /// <summary>Gets the presented chain, leaf first.</summary>
    public IReadOnlyList<CertificateSummary> Chain { get; }

    /// <summary>Gets the presented leaf certificate.</summary>
    public CertificateSummary Leaf => Chain[0];

    /// <summary>Gets the leaf's SHA-256 fingerprint in Determined's form.</summary>
    public string Sha256Fingerprint => Leaf.Sha256Fingerprint;

    /// <summary>Gets Determined's prompt text for this certificate (three lines, the last without a newline).</summary>
    public string PromptText => $"{PromptHeader}\n{Sha256Fingerprint}\n{PromptQuestion}";
}
