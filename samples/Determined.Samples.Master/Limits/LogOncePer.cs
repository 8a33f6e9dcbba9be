using System.Diagnostics;

namespace Determined.Samples.Master.Limits;

/// <summary>
/// Lets one log line through per interval, whatever the rate of the event it reports (a flood of refusals never floods
/// the log); callers count the events themselves and print the count with the line.
/// </summary>
public sealed class LogOncePer(TimeSpan interval)
{
    private readonly long _interval = (long)(interval.TotalSeconds * Stopwatch.Frequency);
    private long _last = long.MinValue / 2;

    /// <summary>True for the first call of each interval (exactly one caller wins when several race).</summary>
    public bool TryEnter()
    {
        var now = Stopwatch.GetTimestamp();
        var last = Interlocked.Read(ref _last);
        return now - last >= _interval && Interlocked.CompareExchange(ref _last, now, last) == last;
    }
}
