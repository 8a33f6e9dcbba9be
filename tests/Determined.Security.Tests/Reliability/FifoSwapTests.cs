using System.Diagnostics;
using Determined.Testing;

namespace Determined.Security.Tests.Reliability;

/// <summary>
/// A trust file swapped between a regular file and a FIFO while it is read (another process renames hard links over it,
/// as an attacker with write access to the directory would): the check of the path and the open are separate steps, so
/// a plain open could meet the FIFO and block forever (it did, at iteration 544 of such a loop). Every read now either
/// succeeds or is refused with a classified error, and none blocks.
/// </summary>
public sealed class FifoSwapTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task TrustFileSwappedWithAFifo_WhileReadInALoop_NeverHangs()
    {
        var dir = Path.Combine(_pki.Directory, "swap");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "reg"), TestCertificates.Pem(_pki.Root));
        var fifo = await ChildProcess.RunAsync("mkfifo", [Path.Combine(dir, "fifo")], timeout: TimeSpan.FromSeconds(30));
        Assert.True(fifo.ExitCode == 0, "mkfifo failed: " + fifo.Stderr);
        File.Copy(Path.Combine(dir, "reg"), Path.Combine(dir, "ca.pem"));
        const string Swapper = """
            import os, sys, time
            d, end = sys.argv[1], time.time() + float(sys.argv[2])
            while time.time() < end:
                for src in ("reg", "fifo"):
                    tmp = os.path.join(d, "tmp")
                    try:
                        os.link(os.path.join(d, src), tmp)
                        os.rename(tmp, os.path.join(d, "ca.pem"))
                    except FileExistsError:
                        os.unlink(tmp)
            """;
        var swapper = ChildProcess.RunAsync("python3", ["-c", Swapper, dir, "8"], timeout: TimeSpan.FromSeconds(60));
        var options = new TlsOptions { MasterCertificateFile = Path.Combine(dir, "ca.pem") };
        int loaded = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 100_000 && clock.Elapsed < TimeSpan.FromSeconds(6); i++)
        {
            // Each read on its own thread with a hang guard far above a read's cost: a blocked open fails the test.
            var read = Task.Run(() =>
            {
                try
                {
                    TlsPolicy.Create(options);
                    return true;
                }
                catch (DeterminedConfigurationException)
                {
                    return false;
                }
            });
            var finished = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(20)));
            Assert.True(finished == read, $"reading the trust file blocked at iteration {i}");
            _ = await read ? loaded++ : refused++;
        }

        await swapper;
        Assert.True(loaded > 0 && refused > 0, $"the swap was not exercised: {loaded} loaded, {refused} refused");
    }
}
