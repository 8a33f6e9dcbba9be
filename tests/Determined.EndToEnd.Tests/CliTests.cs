using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;
using Determined.Security;
using Determined.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Determined.EndToEnd.Tests;

/// <summary>The det CLI as a real process with stdin (issue: CLI with trust on first use and a TLS doctor).</summary>
public sealed class CliTests : IAsyncLifetime
{
    private readonly Cluster _pki = new(dnsOnlyName: false);
    private MasterHost _master = null!;

    private string ConfigDir => Path.Combine(_pki.Directory, "cli");

    private static string Det => ChildProcess.ProjectDll("samples/Determined.Samples.Cli", "det");

    public async ValueTask InitializeAsync() =>
        _master = await MasterHost.StartAsync(new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = _pki.MasterCertFile, TlsKey = _pki.MasterKeyFile }, _ => null, logging: _ => { });

    public async ValueTask DisposeAsync()
    {
        await _master.DisposeAsync();
        await _pki.DisposeAsync();
    }

    private Task<(int Exit, string Stdout, string Stderr, TimeSpan Elapsed)> DetAsync(string? stdin, params string[] args) =>
        DetWithEnvAsync([], stdin, args);

    private async Task<(int Exit, string Stdout, string Stderr, TimeSpan Elapsed)> DetWithEnvAsync(string[] env, string? stdin, params string[] args)
    {
        // A clean slate: none of this machine's DET_* variables, the test's config directory, no password prompt.
        var environment = new Dictionary<string, string?>();
#pragma warning disable RS0030
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("DET", StringComparison.Ordinal)))
#pragma warning restore RS0030
        {
            environment[key] = null;
        }

        environment["DET_DEBUG_CONFIG_PATH"] = ConfigDir;
        environment["DET_PASS"] = string.Empty;
        foreach (var pair in env)
        {
            var parts = pair.Split('=', 2);
            environment[parts[0]] = parts[1];
        }

        var run = await ChildProcess.RunAsync("dotnet", [Det, .. args], environment, stdin);
        var result = (run.ExitCode, run.Stdout, run.Stderr, run.Elapsed);
        _pki.Capture($"det {string.Join(' ', args)}", result.Item2 + result.Item3);
        return result;
    }

    private string Url => $"https://localhost:{_master.Uri.Port}";

    private string LeafFingerprint
    {
        get
        {
            var all = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            all.ImportFromPem(File.ReadAllText(_pki.MasterCertFile));
            return CertificatePin.Sha256Fingerprint(all[0]);
        }
    }

    [Fact]
    public async Task FirstContact_AnswerY_TrustsAndStoresInCertsJsonThatPythonReads()
    {
        var (exit, stdout, stderr, _) = await DetAsync("y\n", "-m", Url, "info");

        Assert.True(exit == 0, stderr);
        Assert.Contains("The master sent an untrusted certificate chain with this SHA256 fingerprint:\n" + LeafFingerprint + "\nDo you want to trust this certificate from now on? [y/n]: ", stdout, StringComparison.Ordinal);
        Assert.Contains("Cluster name: sample-cluster", stdout, StringComparison.Ordinal);
        using var python = ChildProcess.StartPython("import json,sys\nprint(list(json.load(open(sys.argv[1])).keys())[0])", Path.Combine(ConfigDir, "certs.json"));
        Assert.Equal(Url, (await python.StandardOutput.ReadToEndAsync()).Trim());

        var (again, stdout2, _, _) = await DetAsync(null, "-m", Url, "info");
        Assert.Equal(0, again);
        Assert.DoesNotContain("untrusted", stdout2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FirstContact_AnswerN_Exits1WithUpstreamMessage()
    {
        var (exit, _, stderr, _) = await DetAsync("n\n", "-m", Url, "info");

        Assert.Equal(1, exit);
        Assert.Contains("Unable to verify master certificate", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(ConfigDir, "certs.json")) && File.ReadAllText(Path.Combine(ConfigDir, "certs.json")).Contains("localhost", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FirstContact_NoStdin_Exits1WithinSecondsWithFingerprintAndCommand()
    {
        var (exit, _, stderr, elapsed) = await DetAsync(null, "-m", Url, "info");

        Assert.Equal(1, exit);
        Assert.True(elapsed < TimeSpan.FromSeconds(30), $"took {elapsed}");
        Assert.Contains(LeafFingerprint, stderr, StringComparison.Ordinal);
        Assert.Contains($"tls trust --fingerprint {LeafFingerprint}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Info_AgainstAnEndlessAnswer_StopsAtTheSizeLimit_WithAPeakWorkingSetUnder300MiB()
    {
        var chunk = "10000\r\n" + new string(' ', 0x10000) + "\r\n";
        await using var server = HostileServer.Start(async (_, _, stream, ct) =>
        {
            await HostileServer.WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", ct);
            while (true)
            {
                await HostileServer.WriteAsync(stream, chunk, ct);
            }
        });
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in new[] { Det, "-m", server.Uri.ToString(), "info" })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DET_DEBUG_CONFIG_PATH"] = ConfigDir;
        using var det = ChildProcess.WithInput(System.Diagnostics.Process.Start(psi)!);
        var stderr = det.StandardError.ReadToEndAsync();
        var stdout = det.StandardOutput.ReadToEndAsync();
        long peak = 0;
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (!det.HasExited && guard.Elapsed < TimeSpan.FromMinutes(2))
        {
            try
            {
                det.Refresh();
                peak = Math.Max(peak, det.PeakWorkingSet64); // VmHWM: a high-water mark, so a late read still sees the peak
            }
            catch (InvalidOperationException)
            {
                break; // exited between the check and the read
            }

            await Task.Delay(20);
        }

        if (!det.HasExited)
        {
            det.Kill(entireProcessTree: true);
        }

        await det.WaitForExitAsync();

        // The limit: the runtime and the CLI (~60 MiB) plus MaxResponseBytes (64 MiB) read through a bounded stream, with
        // room for buffer growth; an unbounded reader passes it within a second on loopback (it reached 2.1 GB before).
        Assert.Equal(1, det.ExitCode);
        Assert.Contains("MaxResponseBytes", await stderr + await stdout, StringComparison.Ordinal);
        Assert.True(peak > 0, "the peak working set could not be read");
        Assert.True(peak < 300L * 1024 * 1024, $"peak working set {peak / (1024 * 1024)} MiB");
    }

    [Fact]
    public async Task TrustOnFirstUse_BehindAProxyWithoutCredentials_ProbesThroughTheTunnel()
    {
        await using var proxy = new ConnectProxy();

        var trusted = await DetWithEnvAsync([$"HTTPS_PROXY=http://127.0.0.1:{proxy.Port}", "https_proxy=", "NO_PROXY=", "no_proxy="], null, "-m", Url, "tls", "trust", "--fingerprint", LeafFingerprint);

        Assert.True(trusted.Exit == 0, trusted.Stderr);
        Assert.Contains(new Uri(Url).Authority, proxy.Targets);
        Assert.Equal(0, proxy.Refused);
    }

    [Fact]
    public async Task TrustOnFirstUse_BehindAnAuthenticatingProxy_ProbesThroughTheTunnel_AndNeverPrintsThePassword()
    {
        await using var proxy = new ConnectProxy("alice", "S3cretPass");
        string[] viaProxy = [$"HTTPS_PROXY=http://alice:S3cretPass@127.0.0.1:{proxy.Port}", "https_proxy=", "NO_PROXY=", "no_proxy="];

        var trusted = await DetWithEnvAsync(viaProxy, null, "-m", Url, "--trust-fingerprint", LeafFingerprint, "info");

        Assert.True(trusted.Exit == 0, trusted.Stderr);
        Assert.Contains(new Uri(Url).Authority, proxy.Targets); // the first-use probe and the request both tunnelled
        Assert.True(proxy.Targets.Count >= 2, string.Join(", ", proxy.Targets));

        // 'det tls trust' only probes (no HTTP request): the probe itself went through the tunnel.
        File.Delete(Path.Combine(ConfigDir, "certs.json"));
        var before = proxy.Targets.Count;
        var probed = await DetWithEnvAsync(viaProxy, null, "-m", Url, "tls", "trust", "--fingerprint", LeafFingerprint);
        Assert.True(probed.Exit == 0, probed.Stderr);
        Assert.True(proxy.Targets.Count > before, "the first-use probe dialled the master directly");

        File.Delete(Path.Combine(ConfigDir, "certs.json"));
        var refused = await DetWithEnvAsync([$"HTTPS_PROXY=http://alice:WrongPass@127.0.0.1:{proxy.Port}", "https_proxy=", "NO_PROXY=", "no_proxy="], null, "-m", Url, "--trust-fingerprint", LeafFingerprint, "info");

        Assert.Equal(1, refused.Exit);
        Assert.Contains("407", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("WrongPass", refused.Stdout + refused.Stderr, StringComparison.Ordinal);
        Assert.True(proxy.Refused > 0);
    }

    [Fact]
    public async Task TrustByFingerprint_ThenChangedKey_IsRefusedWithRecoveryCommand()
    {
        Assert.Equal(0, (await DetAsync(null, "-m", Url, "--trust-fingerprint", LeafFingerprint, "info")).Exit);
        var old = LeafFingerprint;
        var other = DevelopmentCertificateAuthority.Create("Impostor CA");
        using var impostor = other.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        impostor.WritePemFiles(_pki.MasterCertFile + ".new", _pki.MasterKeyFile + ".new");
        File.Move(_pki.MasterKeyFile + ".new", _pki.MasterKeyFile, overwrite: true);
        File.Move(_pki.MasterCertFile + ".new", _pki.MasterCertFile, overwrite: true);
        for (var i = 0; i < 50 && (await MasterProbe.ProbeAsync(_master.Uri)).PresentedChain[0].Thumbprint != impostor.Certificate.Thumbprint; i++)
        {
            await Task.Delay(100);
        }

        var (exit, _, stderr, _) = await DetAsync("y\n", "-m", Url, "info");

        Assert.Equal(1, exit);
        Assert.Contains("CertificateChanged", stderr, StringComparison.Ordinal);
        Assert.Contains(old, stderr, StringComparison.Ordinal);
        Assert.Contains(LeafFingerprint, stderr, StringComparison.Ordinal);
        Assert.Contains($"det tls trust -m {Url} --fingerprint {LeafFingerprint}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoginWhoamiLogout_UseAuthJson_AndNeverPrintTheToken()
    {
        Assert.Equal(0, (await DetAsync(null, "-m", Url, "--trust-fingerprint", LeafFingerprint, "user", "login", "determined")).Exit);
        var auth = JsonNode.Parse(File.ReadAllText(Path.Combine(ConfigDir, "auth.json")))!;
        var token = (string)auth["masters"]![Url]!["tokens"]!["determined"]!;
        _pki.Secrets.Add(token);

        var (exit, stdout, _, _) = await DetAsync(null, "-m", Url, "user", "whoami");
        Assert.Equal(0, exit);
        Assert.Contains("You are logged in as user 'determined'", stdout, StringComparison.Ordinal);
        Assert.Equal(0, (await DetAsync(null, "-m", Url, "user", "logout")).Exit);
        Assert.Equal(1, (await DetAsync(null, "-m", Url, "user", "whoami")).Exit);
        var (_, config, _, _) = await DetAsync(null, "-m", Url, "tls", "show-config");
        Assert.Contains("MasterUrl = ", config, StringComparison.Ordinal);
        _pki.AssertNoSecretsInOutput();
    }

    [Fact]
    public async Task ListAndForget_ManageCertsJson()
    {
        Assert.Equal(0, (await DetAsync(null, "-m", Url, "tls", "trust", "--fingerprint", LeafFingerprint)).Exit);
        var (_, list, _, _) = await DetAsync(null, "tls", "list");
        Assert.Contains(Url, list, StringComparison.Ordinal);
        Assert.Contains(LeafFingerprint, list, StringComparison.Ordinal);
        Assert.Equal(0, (await DetAsync(null, "tls", "forget", Url)).Exit);
        Assert.Equal(1, (await DetAsync(null, "tls", "forget", Url)).Exit);
    }

    [Fact]
    public async Task UsageErrors_Exit2OnStderr()
    {
        var (exit, stdout, stderr, _) = await DetAsync(null, "tls", "frobnicate");
        Assert.Equal(2, exit);
        Assert.Contains("frobnicate", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
    }

    public static TheoryData<string, string> DoctorCases => new()
    {
        { "untrusted", nameof(MasterConnectionError.UntrustedRoot) },
        { "expired", nameof(MasterConnectionError.Expired) },
        { "wrong-name", nameof(MasterConnectionError.NameMismatch) },
        { "missing-intermediate", nameof(MasterConnectionError.IncompleteChain) },
        { "client-auth-only", nameof(MasterConnectionError.WrongKeyUsage) },
        { "plaintext", nameof(MasterConnectionError.PlaintextServer) },
        { "tls-on-http", nameof(MasterConnectionError.TlsServerOnPlaintextUrl) },
    };

    [Theory]
    [MemberData(nameof(DoctorCases))]
    public async Task Doctor_NamesTheFailureClassAndFix(string scenario, string expected)
    {
        var root = TestCertificates.CreateRoot();
        var intermediate = TestCertificates.CreateIntermediate(root);
        var otherIntermediate = TestCertificates.CreateIntermediate(TestCertificates.CreateRoot("Other"));
        var rootFile = Path.Combine(_pki.Directory, "doctor-root.pem");
        await File.WriteAllTextAsync(rootFile, TestCertificates.Pem(root));
        await using var server = scenario switch
        {
            "untrusted" => await TlsTestServer.StartAsync(TestCertificates.CreateLeaf(otherIntermediate), otherIntermediate),
            "expired" => await TlsTestServer.StartAsync(TestCertificates.CreateLeaf(intermediate, new() { NotBefore = DateTimeOffset.UtcNow.AddDays(-5), NotAfter = DateTimeOffset.UtcNow.AddDays(-1) }), intermediate),
            "wrong-name" => await TlsTestServer.StartAsync(TestCertificates.CreateLeaf(intermediate, new() { Dns = ["elsewhere"], Ips = [] }), intermediate),
            "missing-intermediate" => await TlsTestServer.StartAsync(TestCertificates.CreateLeaf(intermediate)),
            "client-auth-only" => await TlsTestServer.StartAsync(TestCertificates.CreateLeaf(intermediate, new() { Usages = [TestCertificates.ClientAuth] }), intermediate),
            "plaintext" => await TlsTestServer.StartAsync(certificate: null),
            _ => await TlsTestServer.StartAsync(TestCertificates.CreateLeaf(intermediate), intermediate),
        };
        var url = scenario switch
        {
            "plaintext" => $"https://127.0.0.1:{server.Port}",
            "tls-on-http" => $"http://127.0.0.1:{server.Port}",
            _ => server.Uri.ToString(),
        };
        var env = scenario == "untrusted" ? [] : new[] { "DET_MASTER_CERT_FILE=" + rootFile };

        var (exit, stdout, stderr, _) = await DetWithEnvAsync(env, null, "-m", url, "tls", "doctor", "--json");

        Assert.True(exit == 1, stdout + stderr);
        var report = JsonNode.Parse(stdout)!;
        Assert.Equal(expected, (string?)report["error"]);
        Assert.False(string.IsNullOrEmpty((string?)report["fix"]));
        Assert.Equal("FAIL", (string?)report["verdict"]);
    }

    [Fact]
    public async Task UnreachableMaster_InfoAndDoctor_NameTheClassTheStageTheSourceAndTheFix()
    {
        var port = HostileServer.ClosedPort();
        var url = $"https://127.0.0.1:{port}";

        var (exit, _, stderr, _) = await DetAsync(null, "-m", url, "info");
        Assert.True(exit == 1, stderr);
        Assert.Contains($"Cannot reach the master at {url} (ConnectionRefused)", stderr, StringComparison.Ordinal);
        Assert.Contains("comes from the -m/--master flag", stderr, StringComparison.Ordinal);
        Assert.Contains("Fix: check that the master is running", stderr, StringComparison.Ordinal);

        (exit, _, stderr, _) = await DetWithEnvAsync(["DET_MASTER=" + url], null, "info");
        Assert.True(exit == 1, stderr);
        Assert.Contains("comes from the environment variable DET_MASTER", stderr, StringComparison.Ordinal);

        (exit, _, stderr, _) = await DetWithEnvAsync(["DET_MASTER_ADDR=127.0.0.1:" + port], null, "info");
        Assert.True(exit == 1, stderr);
        Assert.Contains("comes from the environment variable DET_MASTER_ADDR", stderr, StringComparison.Ordinal);

        var (doctorExit, stdout, doctorErr, _) = await DetAsync(null, "-m", url, "tls", "doctor");
        Assert.True(doctorExit == 1, stdout + doctorErr);
        Assert.Contains("Verdict:        FAIL (Unreachable: ConnectionRefused)", stdout, StringComparison.Ordinal);
        Assert.Contains("Stage:          TCP connect", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("HandshakeFailed", stdout, StringComparison.Ordinal);

        var (jsonExit, json, _, _) = await DetAsync(null, "-m", "https://nonexistent.invalid:8443", "tls", "doctor", "--json");
        Assert.Equal(1, jsonExit);
        var report = JsonNode.Parse(json)!;
        Assert.Equal(nameof(MasterConnectionError.NameNotResolved), (string?)report["error"]);
        Assert.Equal("name resolution", (string?)report["stage"]);
    }

    [Fact]
    public async Task Doctor_WithSkipVerification_NeverSaysTheNameWasVerified()
    {
        var (exit, stdout, stderr, _) = await DetWithEnvAsync(["DET_MASTER_CERT_FILE=noverify"], null, "-m", Url, "tls", "doctor");

        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("Name verified:  NOTHING IS VERIFIED", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Name verified:  localhost", stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// The issue's own case, end to end: the sample master serving the usual one-liner's certificate (OpenSSL 3 marks it
    /// CA:TRUE) is trusted by the CLI at the prompt, by the fix its refusal prints (run as printed), and after the key is
    /// replaced it is refused as changed with both fingerprints, and the fix that refusal prints works too.
    /// </summary>
    [Fact]
    public async Task OpenSslReqX509Master_TrustedAtThePrompt_ByTheRefusalsOwnFix_AndAfterAKeyChange()
    {
        var dir = Path.Combine(_pki.Directory, "one-liner");
        Directory.CreateDirectory(dir);
        string OneLiner(string name)
        {
            TestCertificates.Run(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "5", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost");
            return Path.Combine(dir, name);
        }

        var first = OneLiner("first");
        File.Copy(first + ".pem", Path.Combine(dir, "tls.crt"));
        File.Copy(first + ".key", Path.Combine(dir, "tls.key"));
        await using var master = await MasterHost.StartAsync(new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = Path.Combine(dir, "tls.crt"), TlsKey = Path.Combine(dir, "tls.key") }, _ => null, logging: _ => { });
        var url = $"https://localhost:{master.Uri.Port}";
        string Fingerprint(string file) => CertificatePin.Sha256Fingerprint(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(file)));

        // Without a terminal: refused with the command that trusts it; that command, run as printed, succeeds.
        var (exit, _, stderr, _) = await DetAsync(null, "-m", url, "info");
        Assert.True(exit == 1, stderr);
        var fix = System.Text.RegularExpressions.Regex.Match(stderr, @"det -m (\S+) tls trust --fingerprint ([0-9a-f:]{95})");
        Assert.True(fix.Success, stderr);
        Assert.Equal(Fingerprint(first + ".pem"), fix.Groups[2].Value);
        var (trusted, trustOut, trustErr, _) = await DetAsync(null, "-m", fix.Groups[1].Value, "tls", "trust", "--fingerprint", fix.Groups[2].Value);
        Assert.True(trusted == 0, trustOut + trustErr);
        var (info, infoOut, infoErr, _) = await DetAsync(null, "-m", url, "info");
        Assert.True(info == 0, infoOut + infoErr);
        Assert.Contains("Cluster name: sample-cluster", infoOut, StringComparison.Ordinal);

        // The key changes (the master reloads it): refused as changed, both fingerprints shown; its fix works.
        var second = OneLiner("second");
        File.Copy(second + ".key", Path.Combine(dir, "tls.key.new"));
        File.Copy(second + ".pem", Path.Combine(dir, "tls.crt.new"));
        File.Move(Path.Combine(dir, "tls.key.new"), Path.Combine(dir, "tls.key"), overwrite: true);
        File.Move(Path.Combine(dir, "tls.crt.new"), Path.Combine(dir, "tls.crt"), overwrite: true);
        var changed = string.Empty;
        for (var i = 0; i < 40 && !changed.Contains("CertificateChanged", StringComparison.Ordinal); i++)
        {
            await Task.Delay(250);
            changed = (await DetAsync(null, "-m", url, "info")).Stderr;
        }

        Assert.Contains("THE MASTER'S CERTIFICATE HAS CHANGED", changed, StringComparison.Ordinal);
        Assert.Contains(Fingerprint(first + ".pem"), changed, StringComparison.Ordinal);
        Assert.Contains(Fingerprint(second + ".pem"), changed, StringComparison.Ordinal);
        Assert.DoesNotContain("CaCertificateAsServer", changed, StringComparison.Ordinal);
        var accept = System.Text.RegularExpressions.Regex.Match(changed, @"'det tls trust -m (\S+) --fingerprint ([0-9a-f:]{95})'");
        Assert.True(accept.Success, changed);
        var (accepted, acceptOut, acceptErr, _) = await DetAsync(null, "-m", accept.Groups[1].Value, "tls", "trust", "--fingerprint", accept.Groups[2].Value);
        Assert.True(accepted == 0, acceptOut + acceptErr);
        Assert.Equal(0, (await DetAsync(null, "-m", url, "info")).Exit);

        // And a fresh user answers the prompt.
        Directory.Delete(ConfigDir, recursive: true);
        var (prompted, promptOut, promptErr, _) = await DetAsync("y\n", "-m", url, "info");
        Assert.True(prompted == 0, promptOut + promptErr);
        Assert.Contains(Fingerprint(second + ".pem"), promptOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_MasterThatStallsAfterTheHandshake_IsReportedAsAStall_WithTheChain_NotAsCancelled()
    {
        await using var stalled = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = TestCertificates.CreateLeaf(null),
            // Handshakes complete; GET /info never answers.
            Map = app => app.Use((HttpContext context, RequestDelegate _) => Task.Delay(Timeout.Infinite, context.RequestAborted)),
        });

        var (exit, stdout, stderr, _) = await DetWithEnvAsync(["DET_MASTER_CERT_FILE=noverify"], null, "-m", stalled.Uri.ToString(), "tls", "doctor", "--timeout", "2");

        Assert.True(exit == 1, stdout + stderr);
        Assert.Contains("Verdict:        FAIL (Stalled)", stdout, StringComparison.Ordinal);
        Assert.Contains("Chain presented:", stdout, StringComparison.Ordinal);
        Assert.Contains("did not answer GET /info within 2 s", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("cancelled", stderr, StringComparison.Ordinal);
    }
}
