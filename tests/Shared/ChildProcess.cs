using System.Diagnostics;

namespace Determined.Testing;

/// <summary>Starts the test host (or any dotnet program of this repository) as a real child process.</summary>
public static class ChildProcess
{
    public static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Determined.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("Determined.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The built dll of a project under tests/ or samples/, same configuration as the running tests.</summary>
    public static string ProjectDll(string relativeProjectDirectory, string assemblyName)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        var path = Path.Combine(RepoRoot(), relativeProjectDirectory, "bin", configuration, "net10.0", assemblyName + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first; missing " + path);
    }

    public static Process StartDotnet(string dll, IEnumerable<string> args, IDictionary<string, string?>? environment = null, bool redirectInput = false) =>
        WithInput(Process.Start(StartInfo("dotnet", [dll, .. args], environment)) ?? throw new InvalidOperationException("could not start dotnet " + dll), redirectInput);

    /// <summary>
    /// Starts Determined.TestHost: the win-x64 build named by <c>DET_TEST_HOST_EXE</c> in the Windows leg (eng/windows-leg.sh),
    /// otherwise the built dll through dotnet.
    /// </summary>
    public static Process StartTestHost(IEnumerable<string> args, IDictionary<string, string?>? environment = null) =>
        Environment.GetEnvironmentVariable("DET_TEST_HOST_EXE") is { Length: > 0 } exe
            ? WithInput(Process.Start(StartInfo(exe, args, environment)) ?? throw new InvalidOperationException("could not start " + exe))
            : StartDotnet(ProjectDll("tests/Determined.TestHost", "Determined.TestHost"), args, environment);

    /// <summary>
    /// Every child gets its own standard input, closed at once unless the caller writes to it: the test process's own input
    /// is the runner's pipe (xunit v3 under VSTest), and a child that reads it (keytool's prompt) would wait forever.
    /// </summary>
    public static Process WithInput(Process process, bool keepOpen = false)
    {
        if (!keepOpen)
        {
            process.StandardInput.Close();
        }

        return process;
    }

    /// <summary>What a finished child process printed, and how it ended.</summary>
    public sealed record Result(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
    {
        public string Output => Stdout + Stderr;
    }

    /// <summary>
    /// Runs a program to completion (bounded by <paramref name="timeout"/>, default 60 s; killed and reported when it hangs),
    /// with <paramref name="stdin"/> written then closed, and environment changes (a null value removes a variable).
    /// </summary>
    public static async Task<Result> RunAsync(string fileName, IEnumerable<string> args, IDictionary<string, string?>? environment = null, string? stdin = null, TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var psi = StartInfo(fileName, args, environment);
        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + fileName);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', psi.ArgumentList)} did not exit within {timeout ?? TimeSpan.FromSeconds(60)}; output so far:\n{await stdout}{await stderr}");
        }

        return new Result(process.ExitCode, await stdout, await stderr, watch.Elapsed);
    }

    /// <summary>What a NativeAOT publish produced: the run, its distinct warning lines and the native binary's path.</summary>
    public sealed record NativeAotPublish(Result Run, IReadOnlyList<string> Warnings, string Binary);

    /// <summary>
    /// Publishes a project of this repository with NativeAOT for this machine's RID into <paramref name="workDirectory"/> (its
    /// own artifacts path, so the repository's build outputs are untouched), linking with <paramref name="clang"/>.
    /// </summary>
    public static async Task<NativeAotPublish> PublishNativeAotAsync(string relativeProjectFile, string workDirectory, string clang, TimeSpan timeout)
    {
        var output = Path.Combine(workDirectory, "bin");
        var run = await RunAsync(
            "dotnet",
            [
                "publish", Path.Combine(RepoRoot(), relativeProjectFile), "-c", "Release", "-r", System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier,
                "-p:PublishAot=true", $"-p:CppCompilerAndLinker={clang}", "--artifacts-path", Path.Combine(workDirectory, "build"), "-o", output,
            ],
            timeout: timeout);
        var warnings = run.Output.Split('\n').Where(l => l.Contains(": warning ", StringComparison.Ordinal)).Distinct().ToList();
        return new NativeAotPublish(run, warnings, Path.Combine(output, Path.GetFileNameWithoutExtension(relativeProjectFile)));
    }

    /// <summary>The C compiler NativeAOT links with: <c>clang</c>, else the newest <c>clang-N</c> on PATH; null when there is none.</summary>
    public static string? FindClang()
    {
#pragma warning disable RS0030
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
#pragma warning restore RS0030
        var found = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "clang*"))
            .Select(Path.GetFileName)
            .Where(n => n == "clang" || (n!.StartsWith("clang-", StringComparison.Ordinal) && n.Length > 6 && n[6..].All(char.IsAsciiDigit)))
            .Distinct()
            .ToList();
        return found.Contains("clang") ? "clang" : found.OrderByDescending(n => int.Parse(n![6..], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
    }

    /// <summary>Output and error redirected; environment changes applied (a null value removes a variable).</summary>
    private static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> args, IDictionary<string, string?>? environment)
    {
        var psi = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
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

        return psi;
    }

    public static Process StartPython(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return WithInput(Process.Start(psi) ?? throw new InvalidOperationException("could not start python3"));
    }
}
