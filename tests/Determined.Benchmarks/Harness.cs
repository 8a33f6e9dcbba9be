using System.Globalization;
using System.Text.Json.Nodes;

namespace Determined.Benchmarks;

/// <summary>One scenario's result: medians of interleaved rounds, with min/max.</summary>
public sealed record Result(string Scenario, string Unit, bool HigherIsBetter, List<double> Ours, List<double> Baseline, string? Note = null)
{
    public double OursMedian => Median(Ours);

    public double BaselineMedian => Median(Baseline);

    public double Ratio => BaselineMedian == 0 ? double.NaN : OursMedian / BaselineMedian;

    public static double Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    public JsonObject ToJson() => new()
    {
        ["ours"] = Finite(OursMedian),
        ["baseline"] = Finite(BaselineMedian),
        ["ratio"] = Finite(Ratio),
        ["unit"] = Unit,
        ["rounds"] = Ours.Count,
        ["higherIsBetter"] = HigherIsBetter,
        ["oursMin"] = Ours.Count > 0 ? Math.Round(Ours.Min(), 3) : null,
        ["oursMax"] = Ours.Count > 0 ? Math.Round(Ours.Max(), 3) : null,
        ["baselineMin"] = Baseline.Count > 0 ? Math.Round(Baseline.Min(), 3) : null,
        ["baselineMax"] = Baseline.Count > 0 ? Math.Round(Baseline.Max(), 3) : null,
        ["note"] = Note,
    };

    private static double? Finite(double value) => double.IsFinite(value) ? Math.Round(value, 3) : null;

    public string Row() => string.Format(
        CultureInfo.InvariantCulture,
        "| {0,-26} | {1,12:0.###} [{2:0.###}-{3:0.###}] | {4,12:0.###} [{5:0.###}-{6:0.###}] | {7,6:0.000} | {8} |",
        Scenario, OursMedian, Ours.DefaultIfEmpty().Min(), Ours.DefaultIfEmpty().Max(), BaselineMedian, Baseline.DefaultIfEmpty().Min(), Baseline.DefaultIfEmpty().Max(), Ratio, Unit + (Note is null ? string.Empty : "; " + Note));
}

public static class Harness
{
    /// <summary>Runs ours and the baseline alternately (A B A B …), warm-up first, and returns all rounds.</summary>
    public static async Task<(List<double> Ours, List<double> Baseline)> InterleaveAsync(int rounds, Func<Task<double>> ours, Func<Task<double>> baseline)
    {
        await ours();
        await baseline();
        var a = new List<double>();
        var b = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            if (i % 2 == 0)
            {
                a.Add(await ours());
                b.Add(await baseline());
            }
            else
            {
                b.Add(await baseline());
                a.Add(await ours());
            }
        }

        return (a, b);
    }

    /// <summary>Operations per second of <paramref name="operation"/> run by <paramref name="concurrency"/> workers for a fixed time.</summary>
    public static async Task<double> RateAsync(TimeSpan duration, int concurrency, Func<Task> operation)
    {
        var count = 0L;
        var stop = DateTime.UtcNow + duration;
        var started = System.Diagnostics.Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (DateTime.UtcNow < stop)
            {
                await operation();
                Interlocked.Increment(ref count);
            }
        });
        await Task.WhenAll(workers);
        return count / started.Elapsed.TotalSeconds;
    }
}
