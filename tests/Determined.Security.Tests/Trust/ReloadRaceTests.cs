using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests.Trust;

/// <summary>Reloading trust files: races, failed rebuilds, replacements that keep size and time (found by review).</summary>
public sealed class ReloadRaceTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    /// <summary>Monotonic clock under test control; a thread that set <see cref="Gate"/> blocks in its next GetTimestamp.</summary>
    private sealed class GatedClock : TimeProvider
    {
        public static readonly ThreadLocal<ManualResetEventSlim?> Gate = new();
        public static readonly ManualResetEventSlim Entered = new();
        public long Now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp()
        {
            if (Gate.Value is { } gate)
            {
                Gate.Value = null;
                Entered.Set();
                gate.Wait();
            }

            return Volatile.Read(ref Now);
        }
    }

    private static void Rewrite(string path, string text, int secondsAhead)
    {
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(secondsAhead));
    }

    [Fact]
    public void ALateReloader_NeverUndoesALaterReload_ARemovedPinIsNoLongerTrusted()
    {
        using var otherCa = TestCertificates.CreateRoot("Unrelated CA");
        var uri = new Uri("https://localhost:8443");
        var file = _pki.Write("trust.pem", TestCertificates.Pem(_pki.Root));
        var clock = new GatedClock();
        var resolver = new CertificateTrustResolver(
            TlsPolicy.Create(new TlsOptions { MasterCertificateFile = file, TrustMode = MasterTrustMode.PinnedOnly, ReloadCheckInterval = TimeSpan.FromSeconds(1) }),
            null, clock);

        // Thread B: reads _current (generation 1), then stalls inside TryReload's first GetTimestamp (e.g. descheduled).
        using var release = new ManualResetEventSlim();
        var late = new Thread(() =>
        {
            GatedClock.Gate.Value = release;
            resolver.MaybeReload();
        });
        late.Start();
        Assert.True(GatedClock.Entered.Wait(TimeSpan.FromSeconds(10)));

        // Thread A: generation 2 (root + other CA) is loaded and swapped in.
        Rewrite(file, TestCertificates.Pem(_pki.Root) + TestCertificates.Pem(otherCa), 10);
        Interlocked.Add(ref clock.Now, TimeSpan.TicksPerSecond * 2);
        resolver.MaybeReload();
        Assert.Equal(2, resolver.Policy.PinnedCertificates.Count);

        // The operator removes the master's root (e.g. compromised); the stalled thread B is the one that reloads it.
        Rewrite(file, TestCertificates.Pem(otherCa), 20);
        Interlocked.Add(ref clock.Now, TimeSpan.TicksPerSecond * 2);
        release.Set();
        late.Join();

        for (var i = 0; i < 3; i++)
        {
            Interlocked.Add(ref clock.Now, TimeSpan.TicksPerSecond * 2);
            resolver.MaybeReload();
        }

        // The file pins only the unrelated CA, and so does the resolver: the removed root is refused.
        Assert.Equal(otherCa.Thumbprint, Assert.Single(resolver.Policy.PinnedCertificates).Thumbprint);
        var ex = Assert.Throws<MasterConnectionException>(() => resolver.ValidateCertificate(uri, _pki.Leaf, [_pki.Intermediate]));
        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
    }

    private sealed class FlakyFactory(CertificateTrustResolver resolver) : MasterHttpHandlerFactory(resolver)
    {
        public int Configured;

        protected override void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler)
        {
            if (Interlocked.Increment(ref Configured) > 1)
            {
                throw new InvalidOperationException("hook failed on rebuild");
            }
        }
    }

    [Fact]
    public async Task AHandlerBuildFailingAfterReload_FailsClosed_AndIsRetriedAtTheReloadInterval_NotPerRequest()
    {
        var file = _pki.Write("trust2.pem", TestCertificates.Pem(_pki.Root));
        var clock = new ManualClock();
        var resolver = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = file, ReloadCheckInterval = TimeSpan.FromSeconds(1) }), null, clock);
        var factory = new FlakyFactory(resolver);
        using var client = new HttpClient(factory.CreateHandler(new Uri("https://127.0.0.1:1"))) { BaseAddress = new Uri("https://127.0.0.1:1") };
        using var otherCa = TestCertificates.CreateRoot("Unrelated CA");
        Rewrite(file, TestCertificates.Pem(_pki.Root) + TestCertificates.Pem(otherCa), 10);
        clock.Now += TimeSpan.TicksPerSecond * 2;
        for (var i = 0; i < 5; i++)
        {
            // Fails closed (never the old trust for new connections), with the cause, and without rebuilding per request.
            var ex = await Assert.ThrowsAsync<DeterminedException>(() => client.GetStringAsync("/info"));
            Assert.Contains("reloaded TLS settings", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(2, factory.Configured); // the first build and one failed rebuild
        Assert.Equal(2, resolver.Policy.PinnedCertificates.Count);

        // At the next interval the rebuild is tried again (and fails again here: the hook keeps throwing).
        clock.Now += TimeSpan.TicksPerSecond * 2;
        await Assert.ThrowsAsync<DeterminedException>(() => client.GetStringAsync("/info"));
        Assert.Equal(3, factory.Configured);
    }

    private sealed class ManualClock : TimeProvider
    {
        public long Now;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Volatile.Read(ref Now);
    }

    [Fact]
    public void InPlaceReplacementWithSameSizeAndOlderTime_InATrustDirectory_IsReloaded()
    {
        var uri = new Uri("https://localhost:8443");
        var dir = Path.Combine(_pki.Directory, "trust.d");
        Directory.CreateDirectory(dir);
        var rootPem = TestCertificates.Pem(_pki.Root);
        string replacement;
        do
        {
            using var other = TestCertificates.CreateRoot("Test Root CB"); // same name length as "Test Root CA"
            replacement = TestCertificates.Pem(other);
        }
        while (replacement.Length != rootPem.Length);

        using var extra = TestCertificates.CreateRoot("Extra CA");
        var a = Path.Combine(dir, "a.pem");
        var b = Path.Combine(dir, "b.pem");
        File.WriteAllText(a, rootPem);
        File.WriteAllText(b, TestCertificates.Pem(extra));
        File.SetLastWriteTimeUtc(a, DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(b, DateTime.UtcNow.AddHours(-1));
        var dirTime = Directory.GetLastWriteTimeUtc(dir);

        var clock = new ManualClock();
        var resolver = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = dir, TrustMode = MasterTrustMode.PinnedOnly, ReloadCheckInterval = TimeSpan.FromSeconds(1) }), null, clock);
        resolver.ValidateCertificate(uri, _pki.Leaf, [_pki.Intermediate]);

        // `cp -p backup/a.pem trust.d/a.pem` (or rsync -t / tar x): in place, same size, the backup's older mtime.
        File.WriteAllText(a, replacement);
        File.SetLastWriteTimeUtc(a, DateTime.UtcNow.AddHours(-3));
        Assert.Equal(dirTime, Directory.GetLastWriteTimeUtc(dir));
        clock.Now += TimeSpan.TicksPerSecond * 5;
        resolver.MaybeReload();

        // The contents changed: the replaced root is no longer trusted.
        Assert.Throws<MasterConnectionException>(() => resolver.ValidateCertificate(uri, _pki.Leaf, [_pki.Intermediate]));
    }
}
