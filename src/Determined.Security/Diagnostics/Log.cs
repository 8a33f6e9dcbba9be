using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>Source-generated log messages. Event ids are stable: 1xxx trust, 2xxx trust on first use, 3xxx reloads.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, EventName = "TrustDecided", Level = LogLevel.Debug, Message = "Trust for {MasterUri}: {Source}, verifying name '{ExpectedName}': {Reason}")]
    public static partial void TrustDecided(ILogger logger, Uri masterUri, TrustAnchors source, string expectedName, string reason);

    [LoggerMessage(EventId = 1002, EventName = "DangerousSkipVerification", Level = LogLevel.Warning, Message = "{Message}")]
    public static partial void SkipVerification(ILogger logger, string message);

    [LoggerMessage(EventId = 1003, EventName = "CertificateRejected", Level = LogLevel.Warning, Message = "Rejected the certificate of master '{Host}' ({Error}, SHA-256 {Fingerprint}): {Message}")]
    public static partial void CertificateRejected(ILogger logger, string host, MasterConnectionError error, string? fingerprint, string message);

    [LoggerMessage(EventId = 1004, EventName = "AcceptedBySystemRoots", Level = LogLevel.Debug, Message = "The certificate of master '{Host}' is not issued by the pinned certificates but by a CA the system trusts; accepted (PinnedAdded)")]
    public static partial void AcceptedBySystemRoots(ILogger logger, string host);

    [LoggerMessage(EventId = 1005, EventName = "ConnectionFailed", Level = LogLevel.Warning, Message = "TLS connection to {MasterUri} failed ({Error}): {Message}")]
    public static partial void ConnectionFailed(ILogger logger, Uri masterUri, MasterConnectionError error, string message);

    [LoggerMessage(EventId = 1006, EventName = "CertificateExpiresSoon", Level = LogLevel.Warning, Message = "The certificate {Subject} (SHA-256 {Fingerprint}) in the chain of master '{Host}' expires at {NotAfter} UTC, in {DaysLeft:0.#} days. Fix: renew it before then (the master: security.tls.cert and security.tls.key, reloaded without a restart; a CA: re-issue and pin the new one)")]
    public static partial void CertificateExpiresSoon(ILogger logger, string subject, string fingerprint, string host, DateTimeOffset notAfter, double daysLeft);

    [LoggerMessage(EventId = 2001, EventName = "StoreQuarantined", Level = LogLevel.Warning, Message = "{Message}")]
    public static partial void StoreQuarantined(ILogger logger, string message);

    [LoggerMessage(EventId = 2002, EventName = "LegacyCertificateMigrated", Level = LogLevel.Information, Message = "Migrated the legacy certificate '{LegacyPath}' into '{StorePath}' for {MasterUrl}")]
    public static partial void LegacyCertificateMigrated(ILogger logger, string legacyPath, string masterUrl, string storePath);

    [LoggerMessage(EventId = 2003, EventName = "CertificateTrusted", Level = LogLevel.Information, Message = "Trusted the certificate of {MasterUrl} (SHA-256 {Fingerprint}, {How}) and stored its chain in '{StorePath}'")]
    public static partial void CertificateTrusted(ILogger logger, string masterUrl, string fingerprint, string how, string storePath);

    [LoggerMessage(EventId = 2004, EventName = "CertificateRenewedSameKey", Level = LogLevel.Information, Message = "The master {MasterUrl} presents a renewed certificate with the same key ({SpkiPin}); old SHA-256 {OldFingerprint}, new {NewFingerprint}; the store was updated")]
    public static partial void CertificateRenewedSameKey(ILogger logger, string masterUrl, string spkiPin, string oldFingerprint, string newFingerprint);

    [LoggerMessage(EventId = 2005, EventName = "CertificateChanged", Level = LogLevel.Error, Message = "{Message}")]
    public static partial void CertificateChanged(ILogger logger, string message);

    [LoggerMessage(EventId = 2006, EventName = "CertificateReplacedByExpectedPin", Level = LogLevel.Warning, Message = "The stored certificate of {MasterUrl} (SHA-256 {OldFingerprint}) was replaced by {NewFingerprint}, which matches the expected fingerprint given explicitly")]
    public static partial void CertificateReplacedByExpectedPin(ILogger logger, string masterUrl, string oldFingerprint, string newFingerprint);

    [LoggerMessage(EventId = 3001, EventName = "TrustMaterialReloaded", Level = LogLevel.Information, Message = "Reloaded TLS material from {Files}: client certificate SHA-256 {ClientFingerprint}, {PinnedCount} pinned certificate(s); new connections use it")]
    public static partial void Reloaded(ILogger logger, string files, string clientFingerprint, int pinnedCount);

    [LoggerMessage(EventId = 3002, EventName = "TrustMaterialReloadRefused", Level = LogLevel.Error, Message = "Refused the changed TLS material in {Files}; the previous material stays in use. {Errors}")]
    public static partial void ReloadRefused(ILogger logger, string files, string errors);
}
