using Determined.Security;

namespace Determined;

/// <summary>
/// The one statement of upstream's trust precedence (REFERENCE.md §4, <c>certs.default_load</c>), compiled into both
/// packages: which settings are explicit, which pin trust, and what <c>noverify</c> means.
/// </summary>
internal static class TrustPrecedence
{
    /// <summary>
    /// Trust set in code (a file, inline PEM, a name override, or skip-verify): the <c>DET_MASTER_CERT_*</c> variables and
    /// the trust-on-first-use store are not consulted, as upstream's <c>default_load</c> ignores them for explicit arguments.
    /// </summary>
    public static bool IsExplicit(TlsOptions options) =>
        PinsTrust(options) || !string.IsNullOrWhiteSpace(options.MasterCertificateName);

    /// <summary>
    /// Trust material chosen by the user (a file, inline PEM, or skip-verify): trust on first use never adds to or replaces
    /// it. A name override alone pins nothing; the stored chain still applies with it (upstream keeps the name when it
    /// stores a chain).
    /// </summary>
    public static bool PinsTrust(TlsOptions options) =>
        !string.IsNullOrWhiteSpace(options.MasterCertificateFile) || !string.IsNullOrWhiteSpace(options.MasterCertificatePem) || options.DangerousSkipVerification;

    /// <summary>
    /// Whether a certificate-file value is upstream's <c>noverify</c>: exactly that word, in any case (upstream compares
    /// <c>cert_file.lower() == "noverify"</c>). <c>" noverify"</c> is a path, as upstream treats it; verification is never
    /// turned off by a value that only contains the word.
    /// </summary>
    public static bool IsNoVerify(string? file) =>
        string.Equals(file, TlsOptions.NoVerify, StringComparison.OrdinalIgnoreCase);
}
