using System.Diagnostics;

namespace Determined.Testing;

/// <summary>Waits for a condition, polling, with a generous hang guard (a busy machine is slow, never wrong).</summary>
public static class Eventually
{
    public static Task WaitAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        WaitAsync(() => Task.FromResult(condition()), what, timeout);

    public static async Task WaitAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(90);
        while (!await condition())
        {
            if (deadline.Elapsed > limit)
            {
                throw new TimeoutException($"timed out after {limit.TotalSeconds:0} s waiting for {what}");
            }

            await Task.Delay(50);
        }
    }
}
