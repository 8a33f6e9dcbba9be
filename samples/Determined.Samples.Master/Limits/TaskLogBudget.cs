namespace Determined.Samples.Master.Limits;

/// <summary>
/// The task-log bytes all posts to this master may hold in memory at once (per master, not per process); a post beyond
/// it is answered 503 (retry later). A body of unknown length counts as the largest allowed.
/// </summary>
public sealed class TaskLogBudget
{
    /// <summary>The bytes all task-log posts may hold at once.</summary>
    public const long MaxBytesInFlight = 64L * 1024 * 1024;

    private long _inFlight;

    /// <summary>Reserves <paramref name="bytes"/>; false (and nothing reserved) when that would exceed <see cref="MaxBytesInFlight"/>.</summary>
    public bool TryReserve(long bytes)
    {
        if (Interlocked.Add(ref _inFlight, bytes) > MaxBytesInFlight)
        {
            Interlocked.Add(ref _inFlight, -bytes);
            return false;
        }

        return true;
    }

    /// <summary>Returns bytes reserved with <see cref="TryReserve"/>.</summary>
    public void Release(long bytes) => Interlocked.Add(ref _inFlight, -bytes);
}
