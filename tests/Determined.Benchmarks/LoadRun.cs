using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;
using Determined.Sdk;
using Determined.Security;

namespace Determined.Benchmarks;

/// <summary>
/// A bounded load run against the sample master through the SDK: 64 concurrent clients, mixed requests and new
/// connections, a certificate rotation halfway. Reports requests, failures, latency percentiles and memory.
/// </summary>
public static class LoadRun
{
    public static async Task<string> RunAsync(TimeSpan duration, int clients)
    {
        var dir = Directory.CreateTempSubdirectory("det-load-").FullName;
        try
        {
            using var ca = DevelopmentCertificateAuthority.Create("Load CA", withIntermediate: true);
            var caFile = Path.Combine(dir, "ca.crt");
            ca.WriteRootCertificate(caFile);
            var certFile = Path.Combine(dir, "master.crt");
            var keyFile = Path.Combine(dir, "master.key");
            using (var leaf = ca.IssueServerCertificate(["determined-master"]))
            {
                leaf.WritePemFiles(certFile, keyFile);
            }

            await using var master = await MasterHost.StartAsync(new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = certFile, TlsKey = keyFile }, _ => null, logging: _ => { });
            var options = new DeterminedClientOptions { MasterUrl = master.Uri.ToString(), UseEnvironment = false, UseTokenStore = false, UseCertificateStore = false, MaxRetries = 0 };
            options.Tls.MasterCertificateFile = caFile;
            options.Tls.MasterCertificateName = "determined-master";
            using var shared = DeterminedClient.FromEnvironment(options);
            await shared.LoginAsync("determined", string.Empty);

            // A fixed histogram (0.01 ms buckets up to 2 s, then one overflow bucket), allocated before the warm-up: recording a
            // latency allocates nothing, so the heap comparison below sees the SDK and the master, not the benchmark's own list.
            var latencies = new long[200_001];
            var maxLatencyTicks = 0L;
            var failures = new ConcurrentQueue<string>();
            var requests = 0L;
            var newConnections = 0L;
            var stopAt = DateTime.UtcNow + duration;
            var runTime = Stopwatch.StartNew();
            var rotated = false;
            var workers = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
            {
                var random = new Random(i);
                while (DateTime.UtcNow < stopAt)
                {
                    var watch = Stopwatch.StartNew();
                    try
                    {
                        switch (random.Next(10))
                        {
                            case 0:
                                using (var fresh = DeterminedClient.FromEnvironment(options)) // new handler: new connection and handshake
                                {
                                    await fresh.GetInfoAsync();
                                }

                                Interlocked.Increment(ref newConnections);
                                break;
                            case 1 or 2:
                                await shared.GetCurrentUserAsync();
                                break;
                            case 3:
                                await shared.GetMasterAsync();
                                break;
                            default:
                                await shared.GetInfoAsync();
                                break;
                        }

                        var elapsed = watch.Elapsed;
                        Interlocked.Increment(ref latencies[Math.Min(latencies.Length - 1, (int)(elapsed.TotalMilliseconds * 100))]);
                        for (var max = Interlocked.Read(ref maxLatencyTicks); elapsed.Ticks > max; max = Interlocked.Read(ref maxLatencyTicks))
                        {
                            Interlocked.CompareExchange(ref maxLatencyTicks, elapsed.Ticks, max);
                        }
                        Interlocked.Increment(ref requests);
                    }
                    catch (Exception ex) when (ex is DeterminedException or HttpRequestException or TaskCanceledException)
                    {
                        failures.Enqueue(ex.GetType().Name + ": " + ex.Message);
                    }
                }
            })).ToList();

            // Memory is compared between the end of a warm-up (10% of the run: pools, caches and JIT filled) and the end.
            await Task.Delay(duration / 10);
            var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
            var samples = new List<string>();
            async Task SampleUntil(TimeSpan at)
            {
                // Long (soak) runs print the heap every minute, to show whether it plateaus.
                while (duration >= TimeSpan.FromMinutes(2) && runTime.Elapsed + TimeSpan.FromMinutes(1) < at)
                {
                    await Task.Delay(TimeSpan.FromMinutes(1));
                    var line = $"  {runTime.Elapsed.TotalMinutes:0.0} min: managed heap {GC.GetTotalMemory(forceFullCollection: true) / 1024.0 / 1024.0:0.0} MiB, {Interlocked.Read(ref requests)} requests, {failures.Count} failures";
                    samples.Add(line);
                    Console.WriteLine(line);
                }

                var rest = at - runTime.Elapsed;
                if (rest > TimeSpan.Zero)
                {
                    await Task.Delay(rest);
                }
            }

            await SampleUntil(duration / 2);
            using (var renewed = ca.IssueServerCertificate(["determined-master"]))
            {
                renewed.WritePemFiles(certFile + ".new", keyFile + ".new");
                File.Move(keyFile + ".new", keyFile, overwrite: true);
                File.Move(certFile + ".new", certFile, overwrite: true);
                rotated = true;
            }

            await SampleUntil(duration);
            await Task.WhenAll(workers);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
            var recorded = latencies.Sum();
            double P(double q)
            {
                var wanted = (long)Math.Ceiling(q * recorded);
                var seen = 0L;
                for (var i = 0; i < latencies.Length; i++)
                {
                    seen += latencies[i];
                    if (seen >= wanted && seen > 0)
                    {
                        return (i + 1) / 100.0; // the bucket's upper bound
                    }
                }

                return double.NaN;
            }
            var served = (await MasterProbe.ProbeAsync(master.Uri, "determined-master")).PresentedChain[0];
            var text = string.Join('\n', [
                $"load run: {duration.TotalSeconds:0} s, {clients} concurrent clients, 127.0.0.1, sample master over TLS (PinnedAdded CA + name override), certificate rotated halfway: {rotated}",
                $"requests: {requests} ({requests / duration.TotalSeconds:0} /s), of which {newConnections} on new connections (new handler, full handshake)",
                $"failures: {failures.Count}{(failures.IsEmpty ? string.Empty : " (first: " + failures.First() + ")")}",
                $"latency: p50 {P(0.50):0.00} ms, p99 {P(0.99):0.00} ms, max {TimeSpan.FromTicks(maxLatencyTicks).TotalMilliseconds:0.00} ms",
                $"managed heap (whole process, client and in-process master, after a full GC): after warm-up {memoryBefore / 1024.0 / 1024.0:0.0} MiB, at the end {memoryAfter / 1024.0 / 1024.0:0.0} MiB",
                $"certificate served after the run: SHA-256 {CertificatePin.Sha256Fingerprint(served)}",
            ]);
            if (!failures.IsEmpty)
            {
                throw new InvalidOperationException(text);
            }

            return text;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
