using Determined.Testing;

namespace Determined.Benchmarks;

/// <summary>Runs tests/Determined.Benchmarks.StartupTask as a child process, under the JIT or published with NativeAOT.</summary>
internal static class StartupTask
{
    private const string Project = "Determined.Benchmarks.StartupTask";

    /// <summary>A way to start the task program: the command and the arguments before the mode.</summary>
    public sealed record Command(string FileName, IReadOnlyList<string> Prefix);

    /// <summary>The JIT build next to this benchmark's build (same configuration), run with <c>dotnet</c>.</summary>
    public static Command Locate()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var dll = Path.Combine(ChildProcess.RepoRoot(), "tests", Project, "bin", configuration, "net10.0", Project + ".dll");
        return File.Exists(dll) ? new Command("dotnet", [dll]) : throw new FileNotFoundException($"{dll} is missing: build Determined.sln -c {configuration} first.");
    }

    /// <summary>Milliseconds from process start to exit (the program exits right after its first authenticated GET).</summary>
    public static async Task<double> TimeAsync(Command command, string mode, IReadOnlyDictionary<string, string> env)
    {
        var run = await RunAsync(command, mode, env);
        return run.ExitCode == 0 ? run.Elapsed.TotalMilliseconds : throw new InvalidOperationException($"startup task '{mode}' exited with {run.ExitCode}: {run.Stderr}");
    }

    /// <summary>The phase breakdown printed by the task program's <c>phases</c> mode.</summary>
    public static async Task<string> PhasesAsync(Command command, IReadOnlyDictionary<string, string> env)
    {
#pragma warning disable RS0030
        if (Environment.GetEnvironmentVariable("BENCH_PHASES_JIT_LOG") is { } jitLog)
#pragma warning restore RS0030
        {
            // Every method the child compiles, with its tier, in order (a release-runtime feature since .NET 7).
            env = new Dictionary<string, string>(env) { ["DOTNET_JitStdOutFile"] = jitLog, ["DOTNET_JitDisasmSummary"] = "1" };
        }

        var run = await RunAsync(command, "phases", env);
        return run.ExitCode == 0 ? run.Stderr : throw new InvalidOperationException($"startup task 'phases' exited with {run.ExitCode}: {run.Stderr}");
    }

    /// <summary>
    /// Publishes the task program with NativeAOT into <paramref name="workDirectory"/> (its own artifacts path, so the
    /// repository's build outputs are untouched). Returns no command, with the reason, when there is no C toolchain.
    /// A publish that fails or warns (trimming/AOT analysis) throws: the SDK must stay AOT-clean.
    /// </summary>
    public static async Task<(Command? Command, string Why)> PublishAotAsync(string workDirectory)
    {
        var clang = ChildProcess.FindClang();
        if (clang is null)
        {
            return (null, "no clang on PATH (NativeAOT links with clang: apt-get install clang)");
        }

        var publish = await ChildProcess.PublishNativeAotAsync(Path.Combine("tests", Project, Project + ".csproj"), Path.Combine(workDirectory, "aot"), clang, TimeSpan.FromMinutes(6));
        if (publish.Run.ExitCode != 0 || publish.Warnings.Count > 0)
        {
            throw new InvalidOperationException($"NativeAOT publish of {Project} failed (exit {publish.Run.ExitCode}, {publish.Warnings.Count} warnings):\n{string.Join('\n', publish.Run.Output.Split('\n').TakeLast(40))}");
        }

        Console.WriteLine($"startup-aot: published {Project} with NativeAOT ({clang}) in {publish.Run.Elapsed.TotalSeconds:0} s, 0 warnings");
        return (new Command(publish.Binary, []), string.Empty);
    }

    private static Task<ChildProcess.Result> RunAsync(Command command, string mode, IReadOnlyDictionary<string, string> env) =>
        ChildProcess.RunAsync(command.FileName, [.. command.Prefix, mode], env.ToDictionary(p => p.Key, p => (string?)p.Value));
}
