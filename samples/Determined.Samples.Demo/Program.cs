using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Determined.Security;

var keep = new Option<bool>("--keep-running") { Description = "Leave the master and agent running after the report (Ctrl+C stops them)." };
var masterPort = new Option<int>("--master-port") { Description = "Port for the master (0: let the OS choose).", DefaultValueFactory = _ => 0 };
var root = new RootCommand("Runs the whole secure flow on 127.0.0.1: a development PKI, a TLS master requiring client certificates from agents, an agent, a task that connects with zero configuration, and the CLI trusting the master on first use by fingerprint.") { keep, masterPort };
root.SetAction(async (parse, ct) => await Demo.RunAsync(parse.GetValue(masterPort), parse.GetValue(keep), ct));
return await root.Parse(args).InvokeAsync();

internal static partial class Demo
{
    private const string MasterName = "determined-master";

    public static async Task<int> RunAsync(int port, bool keepRunning, CancellationToken cancellationToken)
    {
        var dir = Directory.CreateTempSubdirectory("determined-demo-").FullName;
        var processes = new List<Child>();
        var hops = new List<(string Hop, string Detail, bool Ok)>();
        var failedHop = "setup";
        try
        {
            Console.WriteLine($"Working directory: {dir}");
            failedHop = "development PKI";
            var pki = DevelopmentCertificateAuthority.WriteDevelopmentPki(Path.Combine(dir, "pki"), [MasterName], clientNames: ["agent-1"]);
            hops.Add(("PKI", $"root CA {pki.CaCertificateFile}, intermediate CA, master certificate for '{MasterName}' only (dialled as 127.0.0.1), agent client certificate 'agent-1'", true));

            failedHop = "master start";
            var master = Start(processes, "master", Dll("Determined.Samples.Master"), [
                "--listen-address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
                "--security-tls-cert", pki.MasterCertificateFile, "--security-tls-key", pki.MasterKeyFile,
                "--resource-manager-require-authentication", "true", "--resource-manager-client-ca", pki.CaCertificateFile,
            ], []);
            var listening = await master.WaitForAsync(@"listening on (https://127\.0\.0\.1:(\d+))", cancellationToken);
            var masterUrl = listening.Groups[1].Value;
            hops.Add(("master", $"listening on {masterUrl} with TLS; agents must present a client certificate issued by the dev CA", true));

            failedHop = "agent → master";
            var (agentCert, agentKey) = pki.ClientFiles["agent-1"];
            var agent = Start(processes, "agent", Dll("Determined.Samples.Agent"), [
                "--master-host", "127.0.0.1", "--master-port", listening.Groups[2].Value, "--agent-id", "agent-1",
                "--security-tls-enabled", "true", "--security-tls-master-cert", pki.CaCertificateFile, "--security-tls-master-cert-name", MasterName,
                "--security-tls-client-cert", agentCert, "--security-tls-client-key", agentKey,
                "--cert-path", Path.Combine(dir, "task", "master.crt"),
            ], []);
            await agent.WaitForAsync("registered with the master", cancellationToken);
            var probe = await MasterProbe.ProbeAsync(new Uri(masterUrl), MasterName, cancellationToken);
            var leaf = CertificateSummary.Create(probe.PresentedChain[0]);
            hops.Add(("agent → master", $"wss://127.0.0.1:{listening.Groups[2].Value}/agents; trust: only the dev root CA (security.tls.master_cert, PinnedOnly); name verified: '{MasterName}' (master_cert_name, sent as SNI); client certificate CN=agent-1 accepted; {probe.Protocol}, {probe.CipherSuite}", true));

            var cliEnv = new Dictionary<string, string?> { ["DET_DEBUG_CONFIG_PATH"] = Path.Combine(dir, "cli-config"), ["DET_MASTER_CERT_NAME"] = MasterName, ["DET_PASS"] = string.Empty };
            var det = Dll("Determined.Samples.Cli", "det");

            failedHop = "CLI → master (trust on first use)";
            var info = await RunToEndAsync(processes, "det info", det, ["-m", masterUrl, "--trust-fingerprint", leaf.Sha256Fingerprint, "info"], cliEnv, cancellationToken);
            hops.Add(("CLI → master", $"first contact: certificate not trusted by the system, trusted non-interactively because its SHA-256 matched --trust-fingerprint {leaf.Sha256Fingerprint}; chain stored in certs.json; name verified '{MasterName}' (DET_MASTER_CERT_NAME); {probe.Protocol}; {FirstLine(info, "Cluster name")}", true));

            failedHop = "CLI login and whoami";
            await RunToEndAsync(processes, "det user login", det, ["-m", masterUrl, "user", "login", "determined"], cliEnv, cancellationToken);
            var whoami = await RunToEndAsync(processes, "det user whoami", det, ["-m", masterUrl, "user", "whoami"], cliEnv, cancellationToken);
            hops.Add(("CLI → master", $"second contact trusted from certs.json with no prompt; login token stored in auth.json; {whoami.Trim()}", true));

            failedHop = "master → agent → task → master";
            var run = await RunToEndAsync(processes, "det command run", det, ["-m", masterUrl, "command", "run", "--", "dotnet", Dll("Determined.Samples.Task")], cliEnv, cancellationToken);
            var runsAs = FirstLine(run, "runs as");
            hops.Add(("master → agent", "StartContainer with the task's ids and allocation token, and the master's served chain (PEM, no key)", true));
            hops.Add(("task → master", $"zero configuration: DET_MASTER, DET_MASTER_CERT_FILE (chain written by the agent, mode 0644), DET_MASTER_CERT_NAME, DET_SESSION_TOKEN; {runsAs.Trim()}; training logs posted with the allocation token and read back through the API", run.Contains("training complete", StringComparison.Ordinal)));

            Report(hops);
            if (keepRunning)
            {
                Console.WriteLine($"\nThe master ({masterUrl}) and agent keep running; press Ctrl+C to stop. Files: {dir}");
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                }
            }

            return hops.All(h => h.Ok) ? 0 : 1;
        }
        catch (Exception ex) when (ex is DemoException or InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            hops.Add((failedHop, ex.Message, false));
            Report(hops);
            Console.Error.WriteLine($"\nDemo failed at: {failedHop}");
            foreach (var p in processes)
            {
                Console.Error.WriteLine($"--- {p.Name} output ---\n{p.Output}");
            }

            return 1;
        }
        finally
        {
            foreach (var p in processes)
            {
                p.Stop();
            }

            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static void Report(List<(string Hop, string Detail, bool Ok)> hops)
    {
        Console.WriteLine("\nWhat each hop verified:");
        foreach (var (hop, detail, ok) in hops)
        {
            Console.WriteLine($"  [{(ok ? "OK" : "FAILED")}] {hop}: {detail}");
        }
    }

    private static string FirstLine(string output, string containing) =>
        output.Split('\n').FirstOrDefault(l => l.Contains(containing, StringComparison.Ordinal))?.Trim() ?? string.Empty;

    private static Child Start(List<Child> processes, string name, string dll, IEnumerable<string> args, Dictionary<string, string?> env)
    {
        var child = new Child(name, dll, args, env);
        processes.Add(child);
        return child;
    }

    private static async Task<string> RunToEndAsync(List<Child> processes, string name, string dll, IEnumerable<string> args, Dictionary<string, string?> env, CancellationToken cancellationToken)
    {
        var child = Start(processes, name, dll, args, env);
        var exit = await child.WaitForExitAsync(TimeSpan.FromMinutes(3), cancellationToken);
        return exit == 0 ? child.Output : throw new DemoException($"'{name}' exited with {exit}: {child.Output}");
    }

    /// <summary>The built program of a sample project, built in the same configuration as this one.</summary>
    private static string Dll(string project, string? assembly = null)
    {
        var here = AppContext.BaseDirectory; // samples/Determined.Samples.Demo/bin/<Configuration>/net10.0/
        var configuration = new DirectoryInfo(here).Parent!.Name;
        var samples = Path.GetFullPath(Path.Combine(here, "..", "..", "..", ".."));
        var path = Path.Combine(samples, project, "bin", configuration, "net10.0", (assembly ?? project) + ".dll");
        return File.Exists(path) ? path : throw new DemoException($"{path} is missing; build the solution first (dotnet build Determined.sln).");
    }

    private sealed class Child
    {
        private readonly Process _process;
        private readonly List<string> _lines = [];
        private readonly Lock _gate = new();

        public Child(string name, string dll, IEnumerable<string> args, Dictionary<string, string?> env)
        {
            Name = name;
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }

            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }

            _process = Process.Start(psi) ?? throw new DemoException("could not start " + name);
            _process.StandardInput.Close();
            _process.OutputDataReceived += (_, e) => Add(e.Data);
            _process.ErrorDataReceived += (_, e) => Add(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Name { get; }

        public string Output
        {
            get
            {
                lock (_gate)
                {
                    return string.Join("\n", _lines);
                }
            }
        }

        public async Task<Match> WaitForAsync(string pattern, CancellationToken cancellationToken)
        {
            var regex = new Regex(pattern);
            for (var i = 0; i < 1200; i++)
            {
                if (regex.Match(Output) is { Success: true } match)
                {
                    return match;
                }

                if (_process.HasExited)
                {
                    await Task.Delay(200, cancellationToken);
                    return regex.Match(Output) is { Success: true } late ? late : throw new DemoException($"{Name} exited with {_process.ExitCode}: {Output}");
                }

                await Task.Delay(100, cancellationToken);
            }

            throw new DemoException($"{Name} did not print /{pattern}/ within 2 minutes: {Output}");
        }

        public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            await _process.WaitForExitAsync(cts.Token);
            _process.WaitForExit();
            return _process.ExitCode;
        }

        public void Stop()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }

        private void Add(string? line)
        {
            if (line is not null)
            {
                lock (_gate)
                {
                    _lines.Add(line);
                }
            }
        }
    }
}

internal sealed class DemoException(string message) : Exception(message);
