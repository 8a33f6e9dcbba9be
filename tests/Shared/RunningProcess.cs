using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Determined.Testing;

/// <summary>A child process whose stdout and stderr lines are collected and can be awaited (bounded), killed on dispose.</summary>
public sealed class RunningProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _signal = new(0);

    private RunningProcess(string name, Process process)
    {
        Name = name;
        Process = process;
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public Process Process { get; }

    public IReadOnlyList<string> Lines => [.. _lines];

    public string Output => string.Join("\n", _lines);

    public static RunningProcess StartDotnet(string name, string dll, IEnumerable<string> args, IDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        // A clean DET_* slate: nothing from the test runner's environment leaks into the programs.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("DET_", StringComparison.Ordinal) || k.StartsWith("DETERMINED_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string?>())
        {
            if (v is null)
            {
                psi.Environment.Remove(k);
            }
            else
            {
                psi.Environment[k] = v;
            }
        }

        return new RunningProcess(name, Process.Start(psi) ?? throw new InvalidOperationException("could not start " + dll));
    }

    /// <summary>Waits for a line matching the pattern; fails with the whole output when the process exits or time runs out.</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan? timeout = null)
    {
        var regex = new Regex(pattern);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            foreach (var line in _lines)
            {
                var match = regex.Match(line);
                if (match.Success)
                {
                    return match;
                }
            }

            if (Process.HasExited && _signal.CurrentCount == 0)
            {
                await Task.Delay(200); // let the last lines arrive
                if (_lines.Any(l => regex.IsMatch(l)))
                {
                    continue;
                }

                throw new InvalidOperationException($"{Name} exited ({Process.ExitCode}) without printing /{pattern}/. Output:\n{Output}");
            }

            try
            {
                await _signal.WaitAsync(TimeSpan.FromMilliseconds(200), cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Name} did not print /{pattern}/ in time. Output:\n{Output}");
            }
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} did not exit in {timeout}. Output:\n{Output}");
        }

        Process.WaitForExit(); // flush the async readers
        return Process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
        }

        Process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue(line);
            _signal.Release();
        }
    }
}
