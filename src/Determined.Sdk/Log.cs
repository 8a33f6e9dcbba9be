using Microsoft.Extensions.Logging;
using Determined.Security;

namespace Determined.Sdk;

/// <summary>Source-generated log messages of Determined.Sdk; ids in <see cref="EventIds"/>.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = EventIds.MissingCertFile, EventName = nameof(EventIds.MissingCertFile), Level = LogLevel.Warning, Message = "{Variable}={Path} path not found; continuing without a pinned certificate (system roots). Fix: point {Variable} at the master's certificate file, or unset it.")]
    public static partial void MissingCertFile(ILogger logger, string variable, string path);

    [LoggerMessage(EventId = EventIds.Retrying, EventName = nameof(EventIds.Retrying), Level = LogLevel.Information, Message = "{Method} {Path} failed ({Reason}); retry {Attempt} of {MaxRetries} in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string method, string path, string reason, int attempt, int maxRetries, long delayMs);

    [LoggerMessage(EventId = EventIds.WaitingForMaster, EventName = nameof(EventIds.WaitingForMaster), Level = LogLevel.Warning, Message = "{Method} {Path}: the master could not be reached ({Error}); nothing was sent, trying again in {DelayMs} ms (attempt {Attempt}, until the call's Timeout)")]
    public static partial void WaitingForMaster(ILogger logger, string method, string path, MasterConnectionError error, long delayMs, int attempt);

    [LoggerMessage(EventId = EventIds.TokenStoreV0Migrated, EventName = nameof(EventIds.TokenStoreV0Migrated), Level = LogLevel.Warning, Message = "The token store '{Path}' was in version 0, which does not record which master issued its tokens; they were moved under the key '{Key}' and are not sent to any master. Fix: log in again with 'det user login'.")]
    public static partial void TokenStoreV0Migrated(ILogger logger, string path, string key);

    [LoggerMessage(EventId = EventIds.TokenStoreQuarantined, EventName = nameof(EventIds.TokenStoreQuarantined), Level = LogLevel.Warning, Message = "The token store '{Path}' was corrupt ({Problem}); it was moved to '{MovedTo}' and an empty store is used. Fix: log in again with 'det user login'; to recover tokens, fix the JSON in '{MovedTo}' and move it back.")]
    public static partial void TokenStoreQuarantined(ILogger logger, string path, string problem, string movedTo);
}
