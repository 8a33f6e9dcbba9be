namespace Determined.Samples.Master.Tasks;

/// <summary>
/// A task's log lines: ids assigned in append order under one lock (a follower never skips or repeats a line), each
/// line cut at <see cref="MaxLineChars"/>, and at most <see cref="MaxChars"/> characters kept per task, the oldest lines
/// going first (a chatty or hostile task cannot exhaust the master's memory). Eviction is amortized O(1): evicted lines
/// are skipped by a head index and compacted away only when they are half the list. Readers ask for the lines after an
/// id and pay only for those (binary search), and can wait for the next append.
/// </summary>
public sealed class TaskLogBuffer
{
    public const int MaxLineChars = 64 * 1024;
    public const long MaxChars = 16L * 1024 * 1024;
    public const int MaxLines = 20_000;

    private readonly Lock _gate = new();
    private readonly List<TaskLogEntry> _lines = [];
    private int _head;
    private long _chars;
    private long _nextId = 1;
    private TaskCompletionSource _appended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _lines.Count - _head;
            }
        }
    }

    /// <summary>Appends a line (its id is set here), cutting it and evicting the oldest lines over the budget.</summary>
    public void Append(DateTimeOffset timestamp, string level, string log, string stdType, string source)
    {
        if (log.Length > MaxLineChars)
        {
            log = log[..MaxLineChars] + " [cut: the line was longer than 64 KiB]";
        }

        TaskCompletionSource appended;
        lock (_gate)
        {
            _lines.Add(new TaskLogEntry { Id = _nextId++, Timestamp = timestamp, Level = level, Log = log, StdType = stdType, Source = source });
            _chars += log.Length;
            while ((_chars > MaxChars || _lines.Count - _head > MaxLines) && _head < _lines.Count - 1)
            {
                _chars -= _lines[_head].Log.Length;
                _lines[_head] = null!; // released now; compacted below
                _head++;
            }

            if (_head > 0 && _head >= _lines.Count / 2)
            {
                _lines.RemoveRange(0, _head);
                _head = 0;
            }
            appended = _appended;
            _appended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        appended.TrySetResult();
    }

    /// <summary>Up to <paramref name="max"/> lines with an id above <paramref name="afterId"/>, oldest first.</summary>
    public List<TaskLogEntry> After(long afterId, int max)
    {
        lock (_gate)
        {
            var low = _head;
            var high = _lines.Count;
            while (low < high)
            {
                var mid = (low + high) / 2;
                if (_lines[mid].Id <= afterId)
                {
                    low = mid + 1;
                }
                else
                {
                    high = mid;
                }
            }

            return _lines.GetRange(low, Math.Min(max, _lines.Count - low));
        }
    }

    /// <summary>Completes at the next append (or when <paramref name="timeout"/> passes).</summary>
    public async Task WaitForAppendAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task next;
        lock (_gate)
        {
            next = _appended.Task;
        }

        await next.WaitAsync(timeout, TimeProvider.System, cancellationToken).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }
}
