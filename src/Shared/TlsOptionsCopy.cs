using Determined.Security;

namespace Determined;

/// <summary>
/// A copy of <see cref="TlsOptions"/> (both packages compile this file; the SDK never changes a caller's options).
/// TlsOptionsCopyTests sets every property by reflection and checks that the copy carries it.
/// </summary>
internal static class TlsOptionsCopy
{
    public static TlsOptions Of(TlsOptions source) => new()
    {
        MasterCertificateFile = source.MasterCertificateFile,
        MasterCertificatePem = source.MasterCertificatePem,
        TrustMode = source.TrustMode,
        MasterCertificateName = source.MasterCertificateName,
        DangerousSkipVerification = source.DangerousSkipVerification,
        CheckCertificateRevocation = source.CheckCertificateRevocation,
        ClientCertificateFile = source.ClientCertificateFile,
        ClientKeyFile = source.ClientKeyFile,
        ClientCertificatePasswordFile = source.ClientCertificatePasswordFile,
        ClientCertificatePasswordVariable = source.ClientCertificatePasswordVariable,
        MasterCertificatePasswordFile = source.MasterCertificatePasswordFile,
        MasterCertificatePasswordVariable = source.MasterCertificatePasswordVariable,
        CipherSuites = source.CipherSuites,
        ReloadCheckInterval = source.ReloadCheckInterval,
        CertificateExpiryWarning = source.CertificateExpiryWarning,
        MinimumTlsVersion = source.MinimumTlsVersion,
        RequireEncryption = source.RequireEncryption,
    };
}
