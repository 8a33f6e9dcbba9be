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
    private string[] _stamps;
    private string[] _rejected = [];
    private long _nextCheck;
    private int _checking;

    public PolicyReloader(TlsPolicy policy, TimeProvider time)
    {
        _time = time;
        _policy = policy;
        _stamps = Stamps(policy);
        _nextCheck = NextCheck(policy);
    }

    /// <summary>
    /// When the files changed and load, hands the new policy to <paramref name="commit"/> (inside the single-flight section,
    /// so a later reload never commits before an earlier one) and returns it; otherwise <see langword="null"/> (nothing to
    /// do, not yet time, refused).
    /// </summary>
    public TlsPolicy? TryReload(ILogger logger, Action<TlsPolicy> commit)
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

            commit(policy);
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

    /// <summary>
    /// A fingerprint of each source file's contents (a directory: of its files' names and contents): a replacement is seen
    /// even when it keeps the size and an older time (<c>cp -p</c>, <c>rsync -t</c>, <c>tar x</c> of a backup). The files
    /// are small trust material, read with the usual size bound.
    /// </summary>
    private static string[] Stamps(TlsPolicy policy)
    {
        var stamps = new string[policy.SourceFiles.Count];
        for (var i = 0; i < stamps.Length; i++)
        {
            try
            {
                var path = policy.SourceFiles[i];
                using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
                if (Directory.Exists(path))
                {
                    foreach (var file in Directory.EnumerateFiles(path).Order(StringComparer.Ordinal))
                    {
                        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file) + "\0"));
                        hash.AppendData(Contents(file));
                    }
                }
                else
                {
                    hash.AppendData(Contents(path));
                }

                stamps[i] = Convert.ToHexString(hash.GetHashAndReset());
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                stamps[i] = "unreadable: " + ex.GetType().Name;
            }
        }

        return stamps;
    }

    private static byte[] Contents(string file)
    {
        try
        {
            return BoundedFile.ReadAllBytes(file, BoundedFile.MaxCredentialBytes);
        }
        catch (UnsupportedFileException)
        {
            return [];
        }
    }
}
