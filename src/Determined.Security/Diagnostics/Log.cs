using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>Source-generated log messages; ids in <see cref="EventIds"/>. Each failure is logged once, where it is decided.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = EventIds.TrustDecided, EventName = nameof(EventIds.TrustDecided), Level = LogLevel.Debug, Message = "Trust for {MasterUri}: {Anchors}, verifying name '{ExpectedName}': {Reason}")]
    public static partial void TrustDecided(ILogger logger, Uri masterUri, TrustAnchors anchors, string expectedName, string reason);

    [LoggerMessage(EventId = EventIds.DangerousSkipVerification, EventName = nameof(EventIds.DangerousSkipVerification), Level = LogLevel.Warning, Message = "TLS certificate verification is OFF for {ExpectedName} ({Setting}). Any certificate is accepted: anyone on the network path can read and change this traffic, including tokens and passwords. Fix: pin the master's CA with {PinSetting}.")]
    public static partial void SkipVerification(ILogger logger, string expectedName, string setting, string pinSetting);

    [LoggerMessage(EventId = EventIds.CertificateRejected, EventName = nameof(EventIds.CertificateRejected), Level = LogLevel.Warning, Message = "Rejected the certificate of master '{Host}' ({Error}, SHA-256 {Fingerprint}): {Message}")]
    public static partial void CertificateRejected(ILogger logger, string host, MasterConnectionError error, string? fingerprint, string message);

    [LoggerMessage(EventId = EventIds.AcceptedBySystemRoots, EventName = nameof(EventIds.AcceptedBySystemRoots), Level = LogLevel.Debug, Message = "The certificate of master '{Host}' is not issued by the pinned certificates but by a CA the system trusts; accepted (PinnedAdded)")]
    public static partial void AcceptedBySystemRoots(ILogger logger, string host);

    [LoggerMessage(EventId = EventIds.ConnectionFailed, EventName = nameof(EventIds.ConnectionFailed), Level = LogLevel.Warning, Message = "TLS connection to {MasterUri} failed ({Error}): {Message}")]
    public static partial void ConnectionFailed(ILogger logger, Uri masterUri, MasterConnectionError error, string message);

    [LoggerMessage(EventId = EventIds.CertificateExpiresSoon, EventName = nameof(EventIds.CertificateExpiresSoon), Level = LogLevel.Warning, Message = "The certificate {Subject} (SHA-256 {Fingerprint}) in the chain of master '{Host}' expires at {NotAfter} UTC, in {DaysLeft:0.#} days. Fix: renew it before then (the master: security.tls.cert and security.tls.key, reloaded without a restart; a CA: re-issue and pin the new one)")]
    public static partial void CertificateExpiresSoon(ILogger logger, string subject, string fingerprint, string host, DateTimeOffset notAfter, double daysLeft);

    [LoggerMessage(EventId = EventIds.StoreQuarantined, EventName = nameof(EventIds.StoreQuarantined), Level = LogLevel.Warning, Message = "The certificate store '{Path}' was corrupt ({Problem}); it was moved to '{MovedTo}' and an empty store is used. Fix: the masters it trusted will ask to be trusted again; to recover entries, copy them from '{MovedTo}' with 'det tls trust' or fix the JSON and move it back.")]
    public static partial void StoreQuarantined(ILogger logger, string path, string problem, string movedTo);

    [LoggerMessage(EventId = EventIds.LegacyCertificateMigrated, EventName = nameof(EventIds.LegacyCertificateMigrated), Level = LogLevel.Information, Message = "Migrated the legacy certificate '{LegacyPath}' into '{StorePath}' for {MasterUrl}")]
    public static partial void LegacyCertificateMigrated(ILogger logger, string legacyPath, string masterUrl, string storePath);

    [LoggerMessage(EventId = EventIds.CertificateTrusted, EventName = nameof(EventIds.CertificateTrusted), Level = LogLevel.Information, Message = "Trusted the certificate of {MasterUrl} (SHA-256 {Fingerprint}, {How}) and stored its chain in '{StorePath}'")]
    public static partial void CertificateTrusted(ILogger logger, string masterUrl, string fingerprint, string how, string storePath);

    [LoggerMessage(EventId = EventIds.CertificateRenewedSameKey, EventName = nameof(EventIds.CertificateRenewedSameKey), Level = LogLevel.Information, Message = "The master {MasterUrl} presents a renewed certificate with the same key ({SpkiPin}); old SHA-256 {OldFingerprint}, new {NewFingerprint}; the store was updated")]
    public static partial void CertificateRenewedSameKey(ILogger logger, string masterUrl, string spkiPin, string oldFingerprint, string newFingerprint);

    [LoggerMessage(EventId = EventIds.CertificateChanged, EventName = nameof(EventIds.CertificateChanged), Level = LogLevel.Error, Message = "The certificate of {MasterUrl} changed and was not trusted: the store holds SHA-256 {StoredFingerprint}, the master now presents {PresentedFingerprint} with another key. Fix: {Fix}")]
    public static partial void CertificateChanged(ILogger logger, string masterUrl, string storedFingerprint, string presentedFingerprint, string fix);

    [LoggerMessage(EventId = EventIds.CertificateReplacedByExpectedPin, EventName = nameof(EventIds.CertificateReplacedByExpectedPin), Level = LogLevel.Warning, Message = "The stored certificate of {MasterUrl} (SHA-256 {OldFingerprint}) was replaced by {NewFingerprint}, which matches the expected fingerprint given explicitly")]
    public static partial void CertificateReplacedByExpectedPin(ILogger logger, string masterUrl, string oldFingerprint, string newFingerprint);

    [LoggerMessage(EventId = EventIds.TrustMaterialReloaded, EventName = nameof(EventIds.TrustMaterialReloaded), Level = LogLevel.Information, Message = "Reloaded TLS material from {Files}: client certificate SHA-256 {ClientFingerprint}, {PinnedCount} pinned certificate(s); new connections use it")]
    public static partial void Reloaded(ILogger logger, string files, string clientFingerprint, int pinnedCount);

    [LoggerMessage(EventId = EventIds.TrustMaterialReloadRefused, EventName = nameof(EventIds.TrustMaterialReloadRefused), Level = LogLevel.Error, Message = "Refused the changed TLS material in {Files}; the previous material stays in use. {Errors}")]
    public static partial void ReloadRefused(ILogger logger, string files, string errors);
}
