using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>
/// The one owner of reloading: the policy in force, the stamps (time and size) of the files it read, and when to look
/// again. A changed file loads the same options again; a broken replacement is refused (and not retried until the files
/// change again) while the policy in force stays.
/// </summary>
internal sealed class PolicyReloader
{
    private readonly TimeProvider _time;
    private TlsPolicy _policy;
    private (DateTime, long)[] _stamps;
    private (DateTime, long)[] _rejected = [];
    private long _nextCheck;
    private int _checking;

    public PolicyReloader(TlsPolicy policy, TimeProvider time)
    {
        _time = time;
        _policy = policy;
        _stamps = Stamps(policy);
        _nextCheck = NextCheck(policy);
    }

    /// <summary>The new policy when the files changed and load; otherwise <see langword="null"/> (nothing to do, not yet time, refused).</summary>
    public TlsPolicy? TryReload(ILogger logger)
    {
        if (_time.GetTimestamp() < Interlocked.Read(ref _nextCheck) || Interlocked.Exchange(ref _checking, 1) == 1)
        {
            return null;
        }

        try
        {
            var current = _policy;
            Interlocked.Exchange(ref _nextCheck, NextCheck(current));
            var stamps = Stamps(current);
            if (stamps.AsSpan().SequenceEqual(_stamps) || stamps.AsSpan().SequenceEqual(_rejected))
            {
                return null;
            }

            var errors = new List<string>();
            TlsPolicy? policy;
            try
            {
                policy = current.TryReload(errors);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or InvalidOperationException or ArgumentException)
            {
                policy = null;
                errors.Add(ex.Message);
            }

            if (policy is null)
            {
                _rejected = stamps;
                SecurityTelemetry.Reloads.Add(1, new KeyValuePair<string, object?>("result", "refused"));
                var refusedFiles = string.Join(" ", current.SourceFiles);
                var reasons = string.Join(" ", errors);
                Log.ReloadRefused(logger, refusedFiles, reasons);
                return null;
            }

            _policy = policy;
            _stamps = stamps;
            SecurityTelemetry.Reloads.Add(1, new KeyValuePair<string, object?>("result", "loaded"));
            var client = policy.ClientCertificate is { } c ? CertificatePin.Sha256Fingerprint(c) : "none";
            var files = string.Join(" ", policy.SourceFiles);
            Log.Reloaded(logger, files, client, policy.PinnedCertificates.Count);
            return policy;
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    private long NextCheck(TlsPolicy policy) =>
        policy.ReloadCheckInterval <= TimeSpan.Zero || policy.SourceFiles.Count == 0
            ? long.MaxValue
            : _time.GetTimestamp() + (long)(policy.ReloadCheckInterval.TotalSeconds * _time.TimestampFrequency);

    private static (DateTime, long)[] Stamps(TlsPolicy policy)
    {
        var stamps = new (DateTime, long)[policy.SourceFiles.Count];
        for (var i = 0; i < stamps.Length; i++)
        {
            try
            {
                var info = new FileInfo(policy.SourceFiles[i]);
                stamps[i] = info.Exists ? (info.LastWriteTimeUtc, info.Length) : DirectoryStamp(policy.SourceFiles[i]);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                stamps[i] = (DateTime.MinValue, -2);
            }
        }

        return stamps;
    }

    /// <summary>A directory of trust files changes when any file in it changes, not only when files are added or removed.</summary>
    private static (DateTime, long) DirectoryStamp(string path)
    {
        var latest = Directory.GetLastWriteTimeUtc(path);
        long size = -1;
        foreach (var file in new DirectoryInfo(path).EnumerateFiles())
        {
            latest = file.LastWriteTimeUtc > latest ? file.LastWriteTimeUtc : latest;
            size += file.Length + 1;
        }

        return (latest, size);
    }
}
