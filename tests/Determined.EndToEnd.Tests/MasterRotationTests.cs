using System.Diagnostics;
using System.Net;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;
using Determined.Security;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// The sample master's certificate renewed the ways deployments renew it, while clients loop on new connections: a
/// Kubernetes Secret volume (kubelet's layout: <c>tls.crt -> ..data/tls.crt</c>, <c>..data -> ..&lt;timestamp&gt;</c>, a
/// renewal swaps <c>..data</c> atomically), <c>cp -p</c> of a same-size file with an older time, a rename over each file,
/// and a key and certificate replaced a moment apart. Every style: 0 failed requests and the new certificate served
/// within seconds.
/// </summary>
public sealed class MasterRotationTests : IAsyncLifetime
{
    private readonly Cluster _pki = new(dnsOnlyName: false);

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    // The cluster's cleanup and its secret scan run here.
    public async ValueTask DisposeAsync() => await _pki.DisposeAsync();

    public static TheoryData<string> Styles => ["kubernetes-secret-swap", "cp-p-same-size-older-time", "rename-over", "key-then-cert-a-moment-apart"];

    [Theory]
    [MemberData(nameof(Styles))]
    public async Task Renewal_InEachDeploymentStyle_ZeroFailedRequests_NewCertificateServedWithinSeconds(string style)
    {
        var dir = Path.Combine(_pki.Directory, "rotation-" + style);
        Directory.CreateDirectory(dir);
        using var first = _pki.Ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        using var renewed = SameSizeRenewal(first);
        var volume = style == "kubernetes-secret-swap" ? new KubernetesVolume(dir, SecretData(first)) : null;
        var (certFile, keyFile) = volume is not null ? (volume.Path("tls.crt"), volume.Path("tls.key")) : PlainFiles(dir, first);

        await using var master = await MasterHost.StartAsync(
            new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = certFile, TlsKey = keyFile },
            _ => null,
            logging: _ => { });
        Assert.Equal(first.Certificate.Thumbprint, await ServedThumbprintAsync(master.Uri));

        using var stop = new CancellationTokenSource();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var requests = 0;
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.CaFile })));
        var loops = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var fresh = new HttpClient(factory.CreateHandler(master.Uri)) { BaseAddress = master.Uri }; // new handshakes
                try
                {
                    (await fresh.GetAsync("/info")).EnsureSuccessStatusCode();
                    Interlocked.Increment(ref requests);
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex.GetType().Name + ": " + ex.Message);
                }
            }
        })).ToList();

        await Eventually.WaitAsync(() => Volatile.Read(ref requests) > 5, "requests before the renewal");
        switch (style)
        {
            case "kubernetes-secret-swap":
                await volume!.UpdateAsync(SecretData(renewed));
                break;
            case "cp-p-same-size-older-time":
                var staging = Path.Combine(_pki.Directory, "staging-" + style);
                Directory.CreateDirectory(staging);
                renewed.WritePemFiles(Path.Combine(staging, "tls.crt"), Path.Combine(staging, "tls.key"));
                foreach (var name in new[] { "tls.crt", "tls.key" })
                {
                    File.SetLastWriteTimeUtc(Path.Combine(staging, name), File.GetLastWriteTimeUtc(Path.Combine(dir, name)).AddHours(-1));
                }

                var cp = await ChildProcess.RunAsync("cp", ["-p", Path.Combine(staging, "tls.key"), Path.Combine(staging, "tls.crt"), dir]);
                Assert.True(cp.ExitCode == 0, cp.Output);
                Assert.Equal(new FileInfo(Path.Combine(staging, "tls.crt")).Length, new FileInfo(Path.Combine(dir, "tls.crt")).Length);
                break;
            case "rename-over":
                renewed.WritePemFiles(certFile + ".new", keyFile + ".new");
                File.Move(keyFile + ".new", keyFile, overwrite: true);
                File.Move(certFile + ".new", certFile, overwrite: true);
                break;
            case "key-then-cert-a-moment-apart":
                renewed.WritePemFiles(certFile + ".new", keyFile + ".new");
                File.Move(keyFile + ".new", keyFile, overwrite: true);
                await Task.Delay(700); // several checks see a mismatched pair and keep serving the old one
                File.Move(certFile + ".new", certFile, overwrite: true);
                break;
        }

        var clock = Stopwatch.StartNew();
        await Eventually.WaitAsync(async () => await ServedThumbprintAsync(master.Uri) == renewed.Certificate.Thumbprint, "the renewed certificate to be served");
        var seenAfter = clock.Elapsed;
        var before = Volatile.Read(ref requests);
        await Eventually.WaitAsync(() => Volatile.Read(ref requests) > before + 5, "requests after the renewal");
        await stop.CancelAsync();
        await Task.WhenAll(loops);

        Assert.True(failures.IsEmpty, $"{failures.Count} failed requests during '{style}': {string.Join(" | ", failures.Take(3))}");
        Assert.True(seenAfter < TimeSpan.FromSeconds(10), $"the renewed certificate was served only after {seenAfter.TotalSeconds:0.0} s");
    }

    /// <summary>A renewal from the same CA whose files have exactly the sizes of the first (ECDSA signatures vary by a byte or two).</summary>
    private DevelopmentCertificate SameSizeRenewal(DevelopmentCertificate first)
    {
        var size = first.Certificate.RawData.Length;
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var candidate = _pki.Ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
            if (candidate.Certificate.RawData.Length == size)
            {
                return candidate;
            }

            candidate.Dispose();
        }

        throw new InvalidOperationException("no renewal of the same size in 50 attempts");
    }

    /// <summary>The Secret's data: the files as <see cref="DevelopmentCertificate.WritePemFiles"/> writes them.</summary>
    private Dictionary<string, string> SecretData(DevelopmentCertificate certificate)
    {
        var staging = Path.Combine(_pki.Directory, "secret-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        certificate.WritePemFiles(Path.Combine(staging, "tls.crt"), Path.Combine(staging, "tls.key"));
        return new() { ["tls.crt"] = File.ReadAllText(Path.Combine(staging, "tls.crt")), ["tls.key"] = File.ReadAllText(Path.Combine(staging, "tls.key")) };
    }

    private static (string Cert, string Key) PlainFiles(string dir, DevelopmentCertificate certificate)
    {
        var cert = Path.Combine(dir, "tls.crt");
        var key = Path.Combine(dir, "tls.key");
        certificate.WritePemFiles(cert, key);
        return (cert, key);
    }

    private static async Task<string> ServedThumbprintAsync(Uri uri) => (await MasterProbe.ProbeAsync(uri)).PresentedChain[0].Thumbprint;


}
