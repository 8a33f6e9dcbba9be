using Determined;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Determined.Benchmarks;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;
using Determined.Sdk;
using Determined.Security;
using Determined.Testing;

if (args.Length > 0 && args[0] == "load")
{
    // load [--quick | --seconds N]: 60 s by default, 5 s quick (CI), N seconds for a soak.
    var secondsIndex = Array.IndexOf(args, "--seconds");
    var seconds = secondsIndex > 0 && secondsIndex + 1 < args.Length ? int.Parse(args[secondsIndex + 1], CultureInfo.InvariantCulture) : args.Contains("--quick") ? 5 : 60;
    Console.WriteLine(await LoadRun.RunAsync(TimeSpan.FromSeconds(seconds), 64));
    return 0;
}

var quick = args.Contains("--quick");
var jsonIndex = Array.IndexOf(args, "--json");
var jsonPath = jsonIndex >= 0 && jsonIndex + 1 < args.Length ? args[jsonIndex + 1] : null;
var selected = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (jsonIndex < 0 || i != jsonIndex + 1)).ToHashSet();
bool Run(string name) => selected.Count == 0 || selected.Any(s => name.StartsWith(s, StringComparison.Ordinal));

var settings = new Scenarios.Settings(quick ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(2), quick ? 2 : 5);
Console.WriteLine($"Determined.Benchmarks {(quick ? "--quick (proves the scenarios run; no timing is asserted)" : "full run")}; {Environment.ProcessorCount} cores; .NET {Environment.Version}; {DateTime.UtcNow:u}");
using var env = new Scenarios(settings);
await env.StartAsync();
var results = new List<Result>();
foreach (var (name, scenario) in env.All())
{
    if (!Run(name))
    {
        continue;
    }

    Console.WriteLine($"running {name} ...");

    // Let the previous scenario's garbage, connections and thread-pool growth settle, so it does not tilt the next one.
    GC.Collect();
    GC.WaitForPendingFinalizers();
    await Task.Delay(quick ? 100 : 1000);
    try
    {
        results.AddRange(await scenario());
    }
    catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception or HttpRequestException or DeterminedException)
    {
        Console.WriteLine($"  {name} could not run: {ex.Message}");
        results.Add(new Result(name, "n/a", true, [], [], "not run: " + ex.Message));
    }
}

Console.WriteLine();
Console.WriteLine("| scenario                   | ours (median [min-max])    | baseline (median [min-max]) | ratio  | unit |");
Console.WriteLine("|----------------------------|----------------------------|-----------------------------|--------|------|");
foreach (var r in results)
{
    Console.WriteLine(r.Row());
}

if (jsonPath is not null)
{
    var json = new JsonObject();
    foreach (var r in results)
    {
        json[r.Scenario] = r.ToJson();
    }

    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(jsonPath))!);
    await File.WriteAllTextAsync(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"wrote {jsonPath}");
}

return results.Any(r => r.Ours.Count == 0 && r.Note?.StartsWith("not run", StringComparison.Ordinal) == true && !r.Note.Contains("optional", StringComparison.Ordinal)) ? 1 : 0;
