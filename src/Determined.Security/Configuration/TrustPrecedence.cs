using Determined.Security;

namespace Determined;

/// <summary>What a <see cref="TlsOptions"/> chooses about trust, from the most to the least decisive.</summary>
internal enum TrustSelection
{
    /// <summary>Nothing about trust is set: the environment and the trust-on-first-use store may still decide.</summary>
    None,

    /// <summary>Only a name override (<see cref="TlsOptions.MasterCertificateName"/>): what is verified, not what is trusted.</summary>
    NameOnly,

    /// <summary>Trust material: a certificate file or inline PEM.</summary>
    Pinned,

    /// <summary>Verification is off (<see cref="TlsOptions.DangerousSkipVerification"/> or the file value <c>noverify</c>).</summary>
    SkipVerification,
}

/// <summary>
/// The one statement of upstream's trust precedence (Determined's <c>certs.default_load</c>): which settings are explicit,
/// which pin trust, and what <c>noverify</c> means. The settings resolver and trust on first use both switch on
/// <see cref="Of"/>:
/// <list type="bullet">
/// <item>Any selection but <see cref="TrustSelection.None"/> set in code is explicit: the <c>DET_MASTER_CERT_*</c> variables
/// and the store are not consulted, as upstream's <c>default_load</c> ignores them for explicit arguments.</item>
/// <item>Only <see cref="TrustSelection.Pinned"/> and <see cref="TrustSelection.SkipVerification"/> keep trust on first use
/// out: a name override alone pins nothing, and the stored chain still applies with it (upstream keeps the name when it
/// stores a chain).</item>
/// </list>
/// </summary>
internal static class TrustPrecedence
{
    /// <summary>What <paramref name="options"/> choose about trust (skip-verification first: it is refused with pins anyway).</summary>
    public static TrustSelection Of(TlsOptions options) =>
        options.DangerousSkipVerification || IsNoVerify(options.MasterCertificateFile) ? TrustSelection.SkipVerification
        : !string.IsNullOrWhiteSpace(options.MasterCertificateFile) || !string.IsNullOrWhiteSpace(options.MasterCertificatePem) ? TrustSelection.Pinned
        : !string.IsNullOrWhiteSpace(options.MasterCertificateName) ? TrustSelection.NameOnly
        : TrustSelection.None;

    /// <summary>Whether the selection keeps the trust-on-first-use store out (trust material or skip-verification was chosen).</summary>
    public static bool PinsTrust(TrustSelection selection) => selection is TrustSelection.Pinned or TrustSelection.SkipVerification;

    /// <summary>
    /// Whether a certificate-file value is upstream's <c>noverify</c>: exactly that word, in any case (upstream compares
    /// <c>cert_file.lower() == "noverify"</c>). <c>" noverify"</c> is a path, as upstream treats it; verification is never
    /// turned off by a value that only contains the word.
    /// </summary>
    public static bool IsNoVerify(string? file) =>
        string.Equals(file, TlsOptions.NoVerify, StringComparison.OrdinalIgnoreCase);
}
