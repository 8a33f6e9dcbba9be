namespace Determined;

/// <summary>
/// Every log event id of the SDK, stable across versions (the SDK logs with them through InternalsVisibleTo; docs/CONFIGURATION.md has
/// the table): 1xxx trust decisions and rejections, 2xxx trust on first use, 3xxx reloads (Determined.Security);
/// 4xxx settings and stores, 5xxx the client (Determined.Sdk).
/// </summary>
internal static class EventIds
{
    public const int TrustDecided = 1001;
    public const int DangerousSkipVerification = 1002;
    public const int CertificateRejected = 1003;
    public const int AcceptedBySystemRoots = 1004;
    public const int ConnectionFailed = 1005;
    public const int CertificateExpiresSoon = 1006;

    public const int StoreQuarantined = 2001;
    public const int LegacyCertificateMigrated = 2002;
    public const int CertificateTrusted = 2003;
    public const int CertificateRenewedSameKey = 2004;
    public const int CertificateChanged = 2005;
    public const int CertificateReplacedByExpectedPin = 2006;

    public const int TrustMaterialReloaded = 3001;
    public const int TrustMaterialReloadRefused = 3002;

    public const int MissingCertFile = 4001;
    public const int TokenStoreQuarantined = 4002;
    public const int TokenStoreV0Migrated = 4003;

    public const int Retrying = 5001;
    public const int WaitingForMaster = 5002;
}
