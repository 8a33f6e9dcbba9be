using System.Diagnostics;
using System.Text;
using Determined.Testing;
using Microsoft.Extensions.Logging;

namespace Determined.Security.Tests.TrustOnFirstUse;

public sealed class MasterCertificateStoreTests : IDisposable
{
    private readonly TestPki _pki = new();

    private string StoreDir => Path.Combine(_pki.Directory, "config");

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void Set_WritesExactlyWhatPythonJsonDumpWrites()
    {
        var store = new MasterCertificateStore(StoreDir);
        store.Set("https://b.example:8443", TestCertificates.Pem(_pki.Leaf, _pki.Intermediate));
        store.Set("a.example", TestCertificates.Pem(_pki.Root));
        store.Set("https://ünïcode.example:8443", TestCertificates.Pem(_pki.Root));
        var ours = File.ReadAllBytes(store.FilePath);

        // Python re-serializes the same data with Determined's own call.
        using var python = ChildProcess.StartPython(
            "import json,sys\nd=json.load(open(sys.argv[1]))\nwith open(sys.argv[2],'w') as f: json.dump(d, f, indent=4, sort_keys=True)",
            store.FilePath, Path.Combine(_pki.Directory, "python.json"));
        Assert.True(python.WaitForExit(30_000));
        Assert.True(python.ExitCode == 0, python.StandardError.ReadToEnd());

        Assert.Equal(File.ReadAllBytes(Path.Combine(_pki.Directory, "python.json")), ours);
        Assert.Contains("\"http://a.example:8080\": \"-----BEGIN CERTIFICATE-----\\n", Encoding.UTF8.GetString(ours), StringComparison.Ordinal);
    }

    [Fact]
    public void Get_ReadsAStoreWrittenByPython()
    {
        Directory.CreateDirectory(StoreDir);
        var pem = TestCertificates.Pem(_pki.Leaf, _pki.Root);
        File.WriteAllText(Path.Combine(_pki.Directory, "in.pem"), pem);
        using var python = ChildProcess.StartPython(
            "import json,sys\nd={'https://master.example:8443': open(sys.argv[2]).read()}\nwith open(sys.argv[1],'w') as f: json.dump(d, f, indent=4, sort_keys=True)",
            Path.Combine(StoreDir, "certs.json"), Path.Combine(_pki.Directory, "in.pem"));
        Assert.True(python.WaitForExit(30_000));

        var store = new MasterCertificateStore(StoreDir);

        Assert.Equal(pem, store.Get("https://master.example:8443"));
        Assert.Equal(pem, store.Get("https://master.example:8443/"));
        Assert.Null(store.Get("https://other:8443"));
        Assert.Single(store.List());
    }

    [Fact]
    public void LockFilePlantedAsASymbolicLink_IsNeverFollowed_TheErrorSaysRemoveIt()
    {
        var dir = Path.Combine(_pki.Directory, "planted");
        Directory.CreateDirectory(dir);
        var target = Path.Combine(_pki.Directory, "victim-file");
        File.CreateSymbolicLink(Path.Combine(dir, "certs.json.lock"), target);

        var ex = Assert.Throws<DeterminedStoreException>(() => new MasterCertificateStore(dir).Set("https://m:8443", TestCertificates.Pem(_pki.Root)));

        Assert.Contains("is a symbolic link", ex.Message, StringComparison.Ordinal);
        Assert.Contains("rm ", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(target), "the link's target was created");
    }

    [Fact]
    public void Remove_DeletesOnlyThatEntry()
    {
        var store = new MasterCertificateStore(StoreDir);
        store.Set("https://a:1", TestCertificates.Pem(_pki.Root));
        store.Set("https://b:1", TestCertificates.Pem(_pki.Root));

        Assert.True(store.Remove("https://a:1"));
        Assert.False(store.Remove("https://a:1"));
        Assert.Equal(["https://b:1"], store.List().Keys);
    }

    [Fact]
    public void Set_CreatesDirectoryMode0700AndFileMode0600()
    {
        var store = new MasterCertificateStore(StoreDir);

        store.Set("https://a:1", TestCertificates.Pem(_pki.Root));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(StoreDir));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.FilePath));
        Assert.False(File.Exists(store.FilePath + ".temp"));
    }

    [Fact]
    public void Set_PemWithPrivateKey_IsRefusedAndStoreUnchanged()
    {
        var store = new MasterCertificateStore(StoreDir);
        store.Set("https://a:1", TestCertificates.Pem(_pki.Root));
        var before = File.ReadAllBytes(store.FilePath);

        Assert.Throws<ArgumentException>(() => store.Set("https://b:1", TestCertificates.Pem(_pki.Root) + TestCertificates.KeyPem(_pki.Leaf)));

        Assert.Equal(before, File.ReadAllBytes(store.FilePath));
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("[1, 2]")]
    [InlineData("\"text\"")]
    public void Get_CorruptStore_IsMovedAsideNamedInTheLog_AndNextWriteWorks(string corrupt)
    {
        Directory.CreateDirectory(StoreDir);
        File.WriteAllText(Path.Combine(StoreDir, "certs.json"), corrupt);
        using var logs = new FakeLoggerFactory();
        var store = new MasterCertificateStore(StoreDir, logs.CreateLogger<MasterCertificateStore>());

        Assert.Null(store.Get("https://a:1"));

        var moved = Assert.Single(Directory.GetFiles(StoreDir, "certs.json.corrupt-*"));
        Assert.Equal(corrupt, File.ReadAllText(moved));
        var warning = Assert.Single(logs.Records, r => r.Id.Name == "StoreQuarantined");
        Assert.Contains(moved, warning.Message, StringComparison.Ordinal);
        Assert.Contains(store.FilePath, warning.Message, StringComparison.Ordinal);
        store.Set("https://a:1", TestCertificates.Pem(_pki.Root));
        Assert.NotNull(store.Get("https://a:1"));
    }

    [Fact]
    public void Get_NonStringValue_MovesStoreAsideWithRecoveryHint()
    {
        Directory.CreateDirectory(StoreDir);
        File.WriteAllText(Path.Combine(StoreDir, "certs.json"), "{\"https://a:1\": 42, \"https://b:1\": \"x\"}");
        using var logs = new FakeLoggerFactory();
        var store = new MasterCertificateStore(StoreDir, logs.CreateLogger<MasterCertificateStore>());

        Assert.Null(store.Get("https://b:1"));

        Assert.Single(Directory.GetFiles(StoreDir, "certs.json.corrupt-*"));
        var warning = Assert.Single(logs.Records, r => r.Id.Name == "StoreQuarantined");
        Assert.Contains("'https://a:1' is not a PEM string", warning.Message, StringComparison.Ordinal);
        Assert.Contains("det tls trust", warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a certificate")]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")]
    public void Get_EntryThatIsNotAChain_NamesCertsJsonTheKeyAndTheForgetCommand_NotTlsOptions(string entry)
    {
        Directory.CreateDirectory(StoreDir);
        File.WriteAllText(Path.Combine(StoreDir, "certs.json"), new System.Text.Json.Nodes.JsonObject { ["https://m.example:8443"] = entry }.ToJsonString());
        var store = new MasterCertificateStore(StoreDir);

        var ex = Assert.Throws<DeterminedStoreException>(() => store.Get("https://m.example:8443"));
        var tofu = Assert.Throws<DeterminedStoreException>(() => new Determined.Security.TrustOnFirstUse(store).ApplyStoredTrust(new Uri("https://m.example:8443"), TlsPolicy.Default));

        foreach (var message in new[] { ex.Message, tofu.Message })
        {
            Assert.Contains("certs.json", message, StringComparison.Ordinal);
            Assert.Contains("'https://m.example:8443'", message, StringComparison.Ordinal);
            Assert.Contains("det tls forget https://m.example:8443", message, StringComparison.Ordinal);
            Assert.DoesNotContain("MasterCertificatePem", message, StringComparison.Ordinal);
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(message, "Fix:"));
        }

        Assert.True(store.Remove("https://m.example:8443")); // the fix works on the corrupt entry
    }

    [Fact]
    public void MigrateLegacyCertificate_MovesMasterCrtIntoTheStoreAndDeletesIt()
    {
        Directory.CreateDirectory(StoreDir);
        var pem = TestCertificates.Pem(_pki.Leaf);
        File.WriteAllText(Path.Combine(StoreDir, "master.crt"), pem);
        var store = new MasterCertificateStore(StoreDir);

        Assert.True(store.MigrateLegacyCertificate("https://master:8443"));

        Assert.False(File.Exists(Path.Combine(StoreDir, "master.crt")));
        Assert.Equal(pem, store.Get("https://master:8443"));
        Assert.False(store.MigrateLegacyCertificate("https://master:8443"));
    }

    [Fact]
    public async Task ConcurrentProcesses_4x50Writes_EveryEntryPresentAndFileAlwaysParses()
    {
        var pemFile = _pki.Write("root.pem", TestCertificates.Pem(_pki.Root));
        var dll = ChildProcess.ProjectDll("tests/Determined.TestHost", "Determined.TestHost");
        var writers = Enumerable.Range(0, 4)
            .Select(i => ChildProcess.StartDotnet(dll, ["store-write", StoreDir, $"p{i}", "50", pemFile]))
            .ToList();
        var parseFailures = 0;
        var reads = 0;
        var path = Path.Combine(StoreDir, "certs.json");
        while (writers.Any(w => !w.HasExited) && reads < 100_000)
        {
            if (File.Exists(path))
            {
                reads++;
                try
                {
                    System.Text.Json.JsonDocument.Parse(File.ReadAllText(path)).Dispose();
                }
                catch (System.Text.Json.JsonException)
                {
                    parseFailures++;
                }
                catch (FileNotFoundException)
                {
                }
            }

            await Task.Delay(2);
        }

        foreach (var w in writers)
        {
            Assert.True(w.WaitForExit(120_000));
            Assert.True(w.ExitCode == 0, await w.StandardError.ReadToEndAsync());
        }

        Assert.Equal(0, parseFailures);
        Assert.True(reads > 0);
        Assert.Equal(200, new MasterCertificateStore(StoreDir).List().Count);
    }

    [Fact]
    public async Task WriterKilledWithSigkill_NeverCorruptsTheStore()
    {
        var pemFile = _pki.Write("chain.pem", TestCertificates.Pem(_pki.Leaf, _pki.Intermediate, _pki.Root));
        var dll = ChildProcess.ProjectDll("tests/Determined.TestHost", "Determined.TestHost");
        for (var round = 0; round < 5; round++)
        {
            using var writer = ChildProcess.StartDotnet(dll, ["store-write", StoreDir, $"kill{round}", "100000", pemFile]);
            var acknowledged = -1;
            var target = 5 + (round * 7);
            while (acknowledged < target && await writer.StandardOutput.ReadLineAsync() is { } line)
            {
                acknowledged = int.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            }

            writer.Kill(); // SIGKILL on Unix
            await writer.WaitForExitAsync();

            var entries = new MasterCertificateStore(StoreDir).List();
            for (var i = 0; i <= acknowledged; i++)
            {
                Assert.True(entries.ContainsKey($"https://kill{round}-{i}:8443"), $"round {round}: entry {i} of {acknowledged} acknowledged writes is missing");
            }

            Assert.Empty(Directory.GetFiles(StoreDir, "certs.json.corrupt-*"));
        }
    }

    [Fact]
    public async Task PythonHoldingTheLockWithFlock_MakesOurWriterWait()
    {
        Directory.CreateDirectory(StoreDir);
        var lockPath = Path.Combine(StoreDir, "certs.json.lock");
        var release = Path.Combine(_pki.Directory, "release");
        // Python holds the lock until the test says so (a file appears): no timing assumption about a busy machine.
        using var python = ChildProcess.StartPython(
            "import fcntl,os,sys,time\nf=open(sys.argv[1],'w')\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\nend=time.time()+120\nwhile not os.path.exists(sys.argv[2]) and time.time()<end: time.sleep(0.02)\nprint('released', flush=True)\nfcntl.flock(f, fcntl.LOCK_UN)\ntime.sleep(5)",
            lockPath,
            release);
        Assert.Equal("locked", await python.StandardOutput.ReadLineAsync());
        var store = new MasterCertificateStore(StoreDir);

        var write = Task.Run(() => store.Set("https://a:1", TestCertificates.Pem(_pki.Root)));
        await Task.Delay(500);
        Assert.False(write.IsCompleted, "the write did not wait for the lock Python holds");

        File.WriteAllText(release, "go");
        Assert.Equal("released", await python.StandardOutput.ReadLineAsync());
        await write.WaitAsync(TimeSpan.FromSeconds(60)); // a hang guard; the write follows the release at once
        Assert.NotNull(store.Get("https://a:1"));
        python.Kill();
    }

    [Fact]
    public void DiskFull_WriteFailsClearlyWithENOSPC_AndPreviousStoreIsIntact()
    {
        // A real full disk: a 64 KiB tmpfs (the tests run as root on Linux, as CI does).
        var mountPoint = Path.Combine(_pki.Directory, "small-disk");
        Directory.CreateDirectory(mountPoint);
        var mount = System.Diagnostics.Process.Start("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint])!;
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, "mounting a small tmpfs needs root; run the tests as root (CI does)");
        try
        {
            var store = new MasterCertificateStore(mountPoint);
            store.Set("https://a:1", TestCertificates.Pem(_pki.Root));
            var before = File.ReadAllBytes(store.FilePath);
            var huge = string.Concat(Enumerable.Repeat(TestCertificates.Pem(_pki.Root, _pki.Intermediate, _pki.Leaf), 60));

            var ex = Assert.Throws<DeterminedStoreException>(() => store.Set("https://b:1", huge));

            Assert.Contains("No space left on device", ex.Message, StringComparison.Ordinal);
            Assert.Contains("free disk space", ex.Message, StringComparison.Ordinal);
            Assert.Equal(before, File.ReadAllBytes(store.FilePath));
            Assert.Null(store.Get("https://b:1"));
            Assert.False(File.Exists(store.FilePath + ".temp"));
        }
        finally
        {
            System.Diagnostics.Process.Start("umount", [mountPoint])!.WaitForExit();
        }
    }

    [Fact]
    public void ReadOnlyFileSystem_ReadsWork_WritesFailAtOnceWithTheCause()
    {
        var store = new MasterCertificateStore(StoreDir);
        store.Set("https://a:1", TestCertificates.Pem(_pki.Root));
        File.Delete(store.FilePath + ".lock");
        var mount = System.Diagnostics.Process.Start("mount", ["--bind", "-o", "ro", StoreDir, StoreDir])!;
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, "a read-only bind mount needs root; run the tests as root (CI does)");
        try
        {
            System.Diagnostics.Process.Start("mount", ["-o", "remount,ro,bind", StoreDir])!.WaitForExit();
            Assert.NotNull(store.Get("https://a:1")); // read without the lock: nothing can write here anyway
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var ex = Assert.Throws<DeterminedStoreException>(() => store.Set("https://b:1", TestCertificates.Pem(_pki.Root)));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"a read-only directory is not lock contention (took {watch.Elapsed})");
            Assert.Contains("Read-only file system", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            System.Diagnostics.Process.Start("umount", [StoreDir])!.WaitForExit();
        }
    }

    [Fact]
    public void ReadOnlyDirectory_WriteFailsClearly_AndPreviousStoreIsIntact()
    {
        var store = new MasterCertificateStore(StoreDir);
        store.Set("https://a:1", TestCertificates.Pem(_pki.Root));
        var before = File.ReadAllBytes(store.FilePath);
        // Root ignores permission bits, so make the temp path unusable instead: a directory where the temp file goes.
        Directory.CreateDirectory(store.FilePath + ".temp");

        var ex = Assert.Throws<DeterminedStoreException>(() => store.Set("https://b:1", TestCertificates.Pem(_pki.Root)));

        Assert.Contains("could not be written", ex.Message, StringComparison.Ordinal);
        Assert.Contains("previous contents are unchanged", ex.Message, StringComparison.Ordinal);
        Directory.Delete(store.FilePath + ".temp");
        Assert.Equal(before, File.ReadAllBytes(store.FilePath));
    }
}
