using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;
using Determined.Sdk;
using Determined.Security;
using Determined.Testing;
using Microsoft.AspNetCore.Builder;

namespace Determined.Benchmarks;

/// <summary>The scenarios of the performance issue, all on 127.0.0.1 against servers started here.</summary>
public sealed partial class Scenarios(Scenarios.Settings settings) : IDisposable
{
    public const string Name = "determined-master";

    private readonly string _dir = Directory.CreateTempSubdirectory("det-bench-").FullName;
    private X509Certificate2 _root = null!;
    private X509Certificate2 _intermediate = null!;
    private X509Certificate2 _leaf = null!;
    private TlsTestServer _server = null!;

    public sealed record Settings(TimeSpan Round, int Rounds);

    private string RootPem => TestCertificates.Pem(_root);

    public async Task StartAsync()
    {
        _root = TestCertificates.CreateRoot("Bench Root");
        _intermediate = TestCertificates.CreateIntermediate(_root, "Bench Intermediate");
        _leaf = TestCertificates.CreateLeaf(_intermediate, new() { Dns = [Name], Ips = [IPAddress.Loopback] });
        _server = await TlsTestServer.StartAsync(_leaf, _intermediate);
    }

    public IEnumerable<(string Name, Func<Task<IEnumerable<Result>>> Run)> All() =>
    [
        ("throughput-h1", () => ThroughputAsync(HttpVersion.Version11, "throughput-h1")),
        ("throughput-h2", () => ThroughputAsync(HttpVersion.Version20, "throughput-h2")),
        ("handshake", HandshakeAsync),
        ("resumption", ResumptionAsync),
        ("handler-overhead", HandlerOverheadAsync),
        ("startup", StartupAsync),
        ("trust-overhead", TrustOverheadAsync),
        ("master", MasterAsync),
    ];

    private Uri IpUri => new($"https://127.0.0.1:{_server.Port}");

    private X509ChainPolicy BarePolicy()
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(_root);
        return policy;
    }

    private HttpMessageHandler OursHandler(MasterTrustMode mode = MasterTrustMode.PinnedAdded) =>
        new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificatePem = RootPem, MasterCertificateName = Name, TrustMode = mode }))).CreateHandler(IpUri);

    private SocketsHttpHandler BareHandler() => new() { SslOptions = { CertificateChainPolicy = BarePolicy() } };

    private async Task<IEnumerable<Result>> ThroughputAsync(Version version, string name)
    {
        var results = new List<Result>();
        foreach (var concurrency in new[] { 1, 32 })
        {
            using var ours = new HttpClient(OursHandler()) { DefaultRequestVersion = version, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var bare = new HttpClient(BareHandler()) { DefaultRequestVersion = version, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
            var uri = new Uri(IpUri, "/info");
            // Many short interleaved rounds (full run: 20 × 0.5 s per side): on 2 shared cores the drift between rounds is
            // larger than the 3 % being measured, and short alternation spreads it evenly over both sides.
            var round = settings.Round / 4;
            var (a, b) = await Harness.InterleaveAsync(
                settings.Rounds * 4,
                () => Harness.RateAsync(round, concurrency, async () => (await ours.GetAsync(uri)).Dispose()),
                () => Harness.RateAsync(round, concurrency, async () => (await bare.GetAsync(uri)).Dispose()));
            results.Add(new Result($"{name}-c{concurrency}", "requests/s", true, a, b));
        }

        return results;
    }

    private async Task<double> HandshakesPerSecondAsync(SslClientAuthenticationOptions options, TimeSpan? round = null) =>
        await Harness.RateAsync(round ?? settings.Round, 1, async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, _server.Port);
            await using var ssl = new SslStream(tcp.GetStream());
            await ssl.AuthenticateAsClientAsync(options);
        });

    private SslClientAuthenticationOptions BareSslOptions() => new() { TargetHost = Name, CertificateChainPolicy = BarePolicy(), CertificateRevocationCheckMode = X509RevocationMode.NoCheck };

    private SslClientAuthenticationOptions OursSslOptions(MasterTrustMode mode) =>
        new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificatePem = RootPem, MasterCertificateName = Name, TrustMode = mode })).CreateSslClientAuthenticationOptions(IpUri);

    private async Task<IEnumerable<Result>> HandshakeAsync()
    {
        var results = new List<Result>();
        foreach (var mode in new[] { MasterTrustMode.PinnedAdded, MasterTrustMode.PinnedOnly })
        {
            var ours = OursSslOptions(mode);
            var bare = BareSslOptions();
            var (a, b) = await Harness.InterleaveAsync(settings.Rounds * 4, () => HandshakesPerSecondAsync(ours, settings.Round / 4), () => HandshakesPerSecondAsync(bare, settings.Round / 4));
            results.Add(new Result($"handshake-{mode}", "handshakes/s", true, a, b));
        }

        // openssl s_time -new as the baseline (optional: only where openssl exists).
        var oursRates = new List<double>();
        var opensslRates = new List<double>();
        var options = OursSslOptions(MasterTrustMode.PinnedAdded);
        var seconds = Math.Max(1, (int)Math.Round(settings.Round.TotalSeconds));
        for (var i = 0; i < Math.Max(1, settings.Rounds / 2); i++)
        {
            var rate = OpenSslSTime(seconds);
            if (rate is null)
            {
                results.Add(new Result("handshake-vs-openssl", "handshakes/s", true, [], [], "optional: openssl not found"));
                return results;
            }

            opensslRates.Add(rate.Value);
            oursRates.Add(await HandshakesPerSecondAsync(options));
        }

        results.Add(new Result("handshake-vs-openssl", "handshakes/s", true, oursRates, opensslRates, "baseline: openssl s_time -new -CAfile (verifying)"));
        return results;
    }

    private double? OpenSslSTime(int seconds)
    {
        try
        {
            var psi = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true };
            // The baseline verifies the chain against the same CA, as ours does (s_time verifies nothing by default).
            var caFile = Write("s_time-ca.pem", RootPem);
            foreach (var a in new[] { "s_time", "-connect", $"127.0.0.1:{_server.Port}", "-new", "-time", seconds.ToString(CultureInfo.InvariantCulture), "-CAfile", caFile, "-verify", "4" })
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            var m = ConnectionsLine().Match(output);
            return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) / double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    [GeneratedRegex(@"(\d+) connections in ([\d.]+)s")]
    private static partial Regex ConnectionsLine();

    private async Task<IEnumerable<Result>> ResumptionAsync()
    {
        // openssl s_server -www reports "Reused" for resumed sessions; every request uses a new connection.
        var certFile = Path.Combine(_dir, "leaf.pem");
        var keyFile = Path.Combine(_dir, "leaf.key");
        var chainFile = Path.Combine(_dir, "chain.pem");
        await File.WriteAllTextAsync(certFile, TestCertificates.Pem(_leaf));
        await File.WriteAllTextAsync(chainFile, TestCertificates.Pem(_intermediate));
        await File.WriteAllTextAsync(keyFile, TestCertificates.KeyPem(_leaf));
        var psi = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "s_server", "-accept", "127.0.0.1:0", "-cert", certFile, "-cert_chain", chainFile, "-key", keyFile, "-www" })
        {
            psi.ArgumentList.Add(a);
        }

        Process server;
        try
        {
            server = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return [new Result("resumption", "fraction resumed", true, [], [], "optional: openssl not found")];
        }

        using (server)
        {
            int port = 0;
            while (await server.StandardOutput.ReadLineAsync() is { } line)
            {
                var m = Regex.Match(line, @"ACCEPT .*:(\d+)$");
                if (m.Success)
                {
                    port = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                    break;
                }
            }

            var uri = new Uri($"https://127.0.0.1:{port}/");
            var count = settings.Rounds * 10;
            async Task<double> Fraction(HttpMessageHandler handler)
            {
                using var client = new HttpClient(handler);
                var reused = 0;
                for (var i = 0; i < count + 1; i++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                    request.Headers.ConnectionClose = true;
                    using var response = await client.SendAsync(request);
                    var body = await response.Content.ReadAsStringAsync();
                    if (i > 0 && body.Contains("Reused,", StringComparison.Ordinal))
                    {
                        reused++;
                    }
                }

                return (double)reused / count;
            }

            var ours = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificatePem = RootPem, MasterCertificateName = Name }))).CreateHandler(uri);
            var oursFraction = await Fraction(ours);
            var ipFraction = await Fraction(BareHandler());
            server.Kill();
            return [new Result("resumption", "fraction resumed", true, [oursFraction], [ipFraction], "ours: IP URL with the name override; baseline: the same IP URL without it (.NET never resumes IP-literal targets)")];
        }
    }

    /// <summary>
    /// What the SDK's handler adds to each request, without the network's noise: the same SocketsHttpHandler settings over an
    /// in-memory transport that answers at once (no sockets, no TLS, no thread hops), ours through MasterHttpHandlerFactory
    /// (reload check, encryption rule, failure classification wrapper), the baseline a bare SocketsHttpHandler.
    /// </summary>
    private async Task<IEnumerable<Result>> HandlerOverheadAsync()
    {
        var uri = new Uri("http://127.0.0.1:8080/info");
        var resolver = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificatePem = RootPem, MasterCertificateName = Name }));
        using var ours = new HttpClient(new InMemoryFactory(resolver).CreateHandler(uri));
        using var bare = new HttpClient(new SocketsHttpHandler { ConnectCallback = CannedHttpStream.ConnectAsync });

        async Task<double> MicrosecondsPerRequest(HttpClient client)
        {
            var n = 0;
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < settings.Round / 4)
            {
                using var response = await client.GetAsync(uri);
                response.EnsureSuccessStatusCode();
                n++;
            }

            return watch.Elapsed.TotalMicroseconds / n;
        }

        var (a, b) = await Harness.InterleaveAsync(settings.Rounds * 4, () => MicrosecondsPerRequest(ours), () => MicrosecondsPerRequest(bare));
        return [new Result("handler-overhead", "µs/request", false, a, b, $"in-memory HTTP/1.1, no network or TLS; added {Result.Median(a) - Result.Median(b):0.00} µs per request")];
    }

    private sealed class InMemoryFactory(CertificateTrustResolver resolver) : MasterHttpHandlerFactory(resolver)
    {
        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler) =>
            handler.ConnectCallback = CannedHttpStream.ConnectAsync;
    }

    private async Task<IEnumerable<Result>> StartupAsync()
    {
        await using var master = await MasterHost.StartAsync(
            new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = Write("m.crt", TestCertificates.Pem(_leaf, _intermediate)), TlsKey = Write("m.key", TestCertificates.KeyPem(_leaf)) },
            _ => null,
            logging: _ => { });
        using var client = DeterminedClient.FromEnvironment(new DeterminedClientOptions { MasterUrl = master.Uri.ToString(), UseEnvironment = false, UseTokenStore = false, UseCertificateStore = false, Tls = { MasterCertificatePem = RootPem, MasterCertificateName = Name } });
        var token = (await client.LoginAsync("determined", string.Empty)).Token!;
        var env = new Dictionary<string, string>
        {
            ["DET_MASTER"] = master.Uri.ToString(),
            ["DET_MASTER_CERT_FILE"] = Write("root.pem", RootPem),
            ["DET_MASTER_CERT_NAME"] = Name,
            ["DET_USER_TOKEN"] = token,
            ["DET_DEBUG_CONFIG_PATH"] = Path.Combine(_dir, "config"),
        };

        var results = new List<Result>();
        var task = StartupTask.Locate();
        var (a, b) = await Harness.InterleaveAsync(settings.Rounds * 6, () => StartupTask.TimeAsync(task, "sdk", env), () => StartupTask.TimeAsync(task, "bare", env));
        results.Add(new Result("startup", "ms to first authenticated GET", false, a, b, "JIT: `dotnet Determined.Benchmarks.StartupTask.dll sdk|bare`"));
#pragma warning disable RS0030
        if (Environment.GetEnvironmentVariable("BENCH_PHASES") is not null)
#pragma warning restore RS0030
        {
            Console.Error.WriteLine(await StartupTask.PhasesAsync(task, env));
        }

#pragma warning disable RS0030
        if (Environment.GetEnvironmentVariable("BENCH_NO_AOT") is not null)
#pragma warning restore RS0030
        {
            Console.WriteLine("startup-aot: not measured: BENCH_NO_AOT is set");
            return results;
        }

        var (aot, why) = await StartupTask.PublishAotAsync(_dir);
        if (aot is null)
        {
            Console.WriteLine($"startup-aot: not measured: {why}");
            return results;
        }

        (a, b) = await Harness.InterleaveAsync(settings.Rounds * 6, () => StartupTask.TimeAsync(aot, "sdk", env), () => StartupTask.TimeAsync(aot, "bare", env));
        results.Add(new Result("startup-aot", "ms to first authenticated GET", false, a, b, "NativeAOT: the same program published with PublishAot (0 trimming/AOT warnings)"));
        return results;
    }

    private async Task<IEnumerable<Result>> TrustOverheadAsync()
    {
        var results = new List<Result>();

        // Client CPU per handshake: ours (PinnedAdded, name override) vs the bare chain policy.
        async Task<double> CpuMicrosecondsPerHandshake(SslClientAuthenticationOptions options)
        {
            var process = Process.GetCurrentProcess();
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var n = 0;
            var stop = DateTime.UtcNow + settings.Round;
            while (DateTime.UtcNow < stop)
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, _server.Port);
                await using var ssl = new SslStream(tcp.GetStream());
                await ssl.AuthenticateAsClientAsync(options);
                n++;
            }

            process.Refresh();
            return (process.TotalProcessorTime - cpu).TotalMicroseconds / n; // includes the in-process server's share, equally for both
        }

        var ours = OursSslOptions(MasterTrustMode.PinnedAdded);
        var bare = BareSslOptions();
        var (a, b) = await Harness.InterleaveAsync(settings.Rounds, () => CpuMicrosecondsPerHandshake(ours), () => CpuMicrosecondsPerHandshake(bare));
        results.Add(new Result("trust-overhead-handshake-cpu", "µs CPU/handshake", false, a, b, $"added {Result.Median(a) - Result.Median(b):0.0} µs (client and in-process server)"));

        // The validation callback alone, on a chain that already validated, vs a bare callback.
        using var chain = new X509Chain { ChainPolicy = BarePolicy() };
        chain.ChainPolicy.ExtraStore.Add(_intermediate);
        chain.Build(_leaf);
        var callback = ours.RemoteCertificateValidationCallback!;
        RemoteCertificateValidationCallback bareCallback = static (_, _, _, e) => e == SslPolicyErrors.None;
        var iterations = settings.Rounds * 20_000;
        double Micro(Action action)
        {
            for (var i = 0; i < 1000; i++)
            {
                action();
            }

            var watch = Stopwatch.StartNew();
            for (var i = 0; i < iterations; i++)
            {
                action();
            }

            return watch.Elapsed.TotalMicroseconds / iterations;
        }

        var oursCallback = new List<double>();
        var bareCallbackTimes = new List<double>();
        for (var r = 0; r < settings.Rounds; r++)
        {
            oursCallback.Add(Micro(() => callback(this, _leaf, chain, SslPolicyErrors.None)));
            bareCallbackTimes.Add(Micro(() => bareCallback(this, _leaf, chain, SslPolicyErrors.None)));
        }

        results.Add(new Result("trust-overhead-callback", "µs/call", false, oursCallback, bareCallbackTimes, $"added {Result.Median(oursCallback) - Result.Median(bareCallbackTimes):0.000} µs"));
        var pin = CertificatePin.FromCertificate(_leaf);
        var spki = CertificatePin.FromCertificate(_leaf, CertificatePinKind.PublicKeySha256);
        results.Add(new Result("fingerprint-sha256", "µs/call", false, [Micro(() => CertificatePin.Sha256Fingerprint(_leaf))], [Micro(() => _leaf.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256))], "baseline: GetCertHash(SHA256) without formatting"));
        results.Add(new Result("pin-match-certificate", "µs/call", false, [Micro(() => pin.Matches(_leaf))], [Micro(() => _leaf.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256))], "baseline: the hash alone"));
        results.Add(new Result("pin-match-spki", "µs/call", false, [Micro(() => spki.Matches(_leaf))], [Micro(() => System.Security.Cryptography.SHA256.HashData(_leaf.PublicKey.ExportSubjectPublicKeyInfo()))], "baseline: the hash alone"));
        return results;
    }

    private async Task<IEnumerable<Result>> MasterAsync()
    {
        await using var master = await MasterHost.StartAsync(
            new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = Write("m2.crt", TestCertificates.Pem(_leaf, _intermediate)), TlsKey = Write("m2.key", TestCertificates.KeyPem(_leaf)) },
            _ => null,
            logging: _ => { });
        using var probe = new HttpClient(BareHandler());
        var bytes = await probe.GetByteArrayAsync(new Uri(master.Uri, "/info"));
        await using var bare = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = _leaf,
            Chain = [_intermediate],
            Map = app => app.MapGet("/info-bytes", () => Microsoft.AspNetCore.Http.Results.Bytes(bytes, "application/json; charset=utf-8")),
        });
        using var client = new HttpClient(BareHandler());
        var oursUri = new Uri(master.Uri, "/info");
        var bareUri = new Uri(bare.Uri, "/info-bytes");
        var (a, b) = await Harness.InterleaveAsync(
            settings.Rounds * 4,
            () => Harness.RateAsync(settings.Round / 4, 32, async () => (await client.GetAsync(oursUri)).Dispose()),
            () => Harness.RateAsync(settings.Round / 4, 32, async () => (await client.GetAsync(bareUri)).Dispose()));
        return [new Result("master", "requests/s", true, a, b, Note: "sample master /info vs bare Kestrel minimal API, same bytes and certificate")];
    }

    private string Write(string name, string contents)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, contents);
        return path;
    }

    public void Dispose()
    {
        _server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }
}
