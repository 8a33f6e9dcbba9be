using System.Diagnostics;
using Determined.Testing;

namespace Determined.EndToEnd.Tests.Browser;

/// <summary>
/// Debian's Chromium, headless, one run per page load (<c>--dump-dom</c> or <c>--screenshot</c>), in a temporary HOME whose
/// NSS database (<c>$HOME/.pki/nssdb</c>, where Chromium on Linux reads the roots it adds to the system's) trusts only the
/// roots given: nothing on the machine is changed. Host names are resolved by <c>--host-resolver-rules</c>, so a
/// certificate for a DNS name is judged as a browser judges a real deployment.
/// </summary>
public sealed class HeadlessChromium : IDisposable
{
    public const string Executable = "/usr/bin/chromium";

    private readonly string _home;
    private readonly string _hostResolverRules;

    private HeadlessChromium(string home, string hostResolverRules)
    {
        _home = home;
        _hostResolverRules = hostResolverRules;
    }

    public string NssDatabase => Path.Combine(_home, ".pki", "nssdb");

    /// <summary>A browser whose NSS database trusts <paramref name="trustedRootFiles"/> (PEM) as TLS roots ("C,,"), and no others beyond the system's.</summary>
    public static async Task<HeadlessChromium> CreateAsync(string hostResolverRules, params string[] trustedRootFiles)
    {
        Assert.True(File.Exists(Executable), $"{Executable} is missing: install Debian's 'chromium' (eng/prerequisites.sh does)");
        var home = Directory.CreateTempSubdirectory("det-browser-").FullName;
        var browser = new HeadlessChromium(home, hostResolverRules);
        Directory.CreateDirectory(browser.NssDatabase);
        await CertUtilAsync(browser, ["-N", "--empty-password"]);
        for (var i = 0; i < trustedRootFiles.Length; i++)
        {
            await CertUtilAsync(browser, ["-A", "-t", "C,,", "-n", $"test-root-{i}", "-i", trustedRootFiles[i]]);
        }

        return browser;
    }

    /// <summary>Loads <paramref name="url"/> and returns the DOM after load (empty when the load failed) and what Chromium printed.</summary>
    public Task<Run> DumpDomAsync(Uri url) => RunAsync(["--dump-dom", url.AbsoluteUri]);

    /// <summary>Loads <paramref name="url"/> and writes a PNG of the window.</summary>
    public Task<Run> ScreenshotAsync(Uri url, string png, int width = 1100, int height = 900) =>
        RunAsync([$"--screenshot={png}", $"--window-size={width},{height}", "--hide-scrollbars", url.AbsoluteUri]);

    /// <summary>One Chromium run with a new, empty profile; its whole process tree is killed when it is still running at the end.</summary>
    private async Task<Run> RunAsync(IEnumerable<string> action)
    {
        var profile = Directory.CreateTempSubdirectory("det-browser-profile-").FullName;
        var psi = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in (string[])
                 [
                     // What this closed network needs: no sandbox (root), no GPU, no QUIC, nothing fetched in the background.
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", $"--user-data-dir={profile}",
                     $"--host-resolver-rules={_hostResolverRules}",
                 ])
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var arg in action)
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["HOME"] = _home;
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + Executable);
        try
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var hang = new CancellationTokenSource(TimeSpan.FromSeconds(90)); // a loaded 2-core machine is slow, never this slow
            try
            {
                await process.WaitForExitAsync(hang.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"chromium did not finish within 90 s; stderr so far:\n{(stderr.IsCompleted ? await stderr : string.Empty)}");
            }

            return new Run(process.ExitCode, await stdout, await stderr, watch.Elapsed);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            KillLeftovers(profile);
            TryDelete(profile);
        }
    }

    /// <summary>Chromium's helpers that outlived the browser process: only ours, recognised by the profile directory made for this run.</summary>
    private static void KillLeftovers(string profile)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(profile, StringComparison.Ordinal))
                {
                    using var leftover = Process.GetProcessById(pid);
                    leftover.Kill(entireProcessTree: true);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // gone meanwhile
            }
        }
    }

    private static async Task CertUtilAsync(HeadlessChromium browser, string[] args)
    {
        var run = await ChildProcess.RunAsync(
            "certutil", ["-d", "sql:" + browser.NssDatabase, .. args], new Dictionary<string, string?> { ["HOME"] = browser._home }, timeout: TimeSpan.FromSeconds(60));
        Assert.True(run.ExitCode == 0, $"certutil {string.Join(' ', args)} failed ({run.ExitCode}): {run.Output}");
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // a helper may still hold a file for a moment; the temp directory is cleaned eventually
        }
    }

    public void Dispose() => TryDelete(_home);

    /// <summary>What one run printed: the DOM (with <c>--dump-dom</c>) on stdout, Chromium's log on stderr.</summary>
    public sealed record Run(int ExitCode, string Dom, string Log, TimeSpan Elapsed)
    {
        /// <summary>The net error headless Chromium logs when the page's load fails ("Page load failed: net::ERR_…"), or null.</summary>
        public string? LoadError => System.Text.RegularExpressions.Regex.Match(Log, @"Page load failed: (net::ERR_[A-Z_]+)") is { Success: true } m ? m.Groups[1].Value : null;
    }
}
