using System.Security.Cryptography.X509Certificates;
using Determined.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Determined.Security.Tests.Trust;

/// <summary>
/// The SDK's reloaded files (the pinned master certificate file and the client identity, as an agent or a task mounts
/// them) renewed the ways deployments renew them, while one client loops: a Kubernetes Secret/ConfigMap volume swap
/// (<c>..data</c> relinked, the visible link unchanged) and <c>cp -p</c> of a file with an older time. 0 failed requests,
/// and the new material in use within seconds.
/// </summary>
public sealed class DeploymentRotationTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private static Dictionary<string, string> Identity(X509Certificate2 certificate) => new()
    {
        ["tls.crt"] = TestCertificates.Pem(certificate),
        ["tls.key"] = TestCertificates.KeyPem(certificate),
    };

    private X509Certificate2 ClientCertificate(string name) =>
        TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = name, Usages = [TestCertificates.ClientAuth], Dns = [], Ips = [] });

    [Theory]
    [InlineData("kubernetes-secret-swap")]
    [InlineData("cp-p-older-time")]
    public async Task ClientIdentity_Renewed_ZeroFailures_ServerSeesTheNewCertificate(string style)
    {
        await using var server = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = _pki.Leaf,
            Chain = [_pki.Intermediate],
            ClientCertificates = ClientCertificateMode.RequireCertificate,
        });
        var v1 = Identity(ClientCertificate("agent-v1"));
        var v2 = Identity(ClientCertificate("agent-v2"));
        var dir = Path.Combine(_pki.Directory, "identity-" + style);
        var volume = style == "kubernetes-secret-swap" ? new KubernetesVolume(dir, v1) : null;
        if (volume is null)
        {
            Directory.CreateDirectory(dir);
            WriteAll(dir, v1);
        }

        using var client = Clients.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile, ClientCertificateFile = Path.Combine(dir, "tls.crt"), ClientKeyFile = Path.Combine(dir, "tls.key"), ReloadCheckInterval = TimeSpan.FromMilliseconds(50) }, server.Uri);

        var failures = await LoopUntilAsync(client, () => server.LastClientCertificateSubject == "CN=agent-v2", async () =>
        {
            if (volume is not null)
            {
                await volume.UpdateAsync(v2);
            }
            else
            {
                await CopyPreservingOlderTimeAsync(dir, v2);
            }
        });

        Assert.Equal(0, failures);
    }

    [Theory]
    [InlineData("kubernetes-configmap-swap")]
    [InlineData("cp-p-older-time")]
    public async Task PinnedCaFile_RenewedToANewCa_ZeroFailures_TheMasterMovesToTheNewChain(string style)
    {
        // The order every CA rotation follows: clients get a bundle of both CAs, the master moves to the new chain, the old
        // CA is dropped from the bundle.
        var newRoot = TestCertificates.CreateRoot("Renewed Root CA");
        var newIntermediate = TestCertificates.CreateIntermediate(newRoot, "Renewed Intermediate CA");
        var newLeaf = TestCertificates.CreateLeaf(newIntermediate);
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        var dir = Path.Combine(_pki.Directory, "ca-" + style);
        var old = new Dictionary<string, string> { ["ca.crt"] = TestCertificates.Pem(_pki.Root) };
        var both = new Dictionary<string, string> { ["ca.crt"] = TestCertificates.Pem(_pki.Root, newRoot) };
        var renewed = new Dictionary<string, string> { ["ca.crt"] = TestCertificates.Pem(newRoot) };
        var volume = style == "kubernetes-configmap-swap" ? new KubernetesVolume(dir, old) : null;
        if (volume is null)
        {
            Directory.CreateDirectory(dir);
            WriteAll(dir, old);
        }

        async Task Update(Dictionary<string, string> files)
        {
            if (volume is not null)
            {
                await volume.UpdateAsync(files);
            }
            else
            {
                await CopyPreservingOlderTimeAsync(dir, files);
            }

            await Task.Delay(300); // past several reload checks (50 ms) before the next step of the rotation
        }

        using var logs = new FakeLoggerFactory();
        using var client = Clients.Create(new TlsOptions { MasterCertificateFile = Path.Combine(dir, "ca.crt"), TrustMode = MasterTrustMode.PinnedOnly, ReloadCheckInterval = TimeSpan.FromMilliseconds(50) }, server.Uri, logs);
        var step = 0;
        var failures = await LoopUntilAsync(client, () => Volatile.Read(ref step) == 3, async () =>
        {
            await Update(both);
            server.SetCertificate(newLeaf, newIntermediate);
            await Task.Delay(300);
            await Update(renewed);
            Volatile.Write(ref step, 3);
        });

        Assert.Equal(0, failures);
        Assert.Contains(logs.Records, r => r.Id.Name == "TrustMaterialReloaded");

        // The old CA is gone: a master still presenting the old chain is refused.
        server.SetCertificate(_pki.Leaf, _pki.Intermediate);
        using var fresh = Clients.Create(new TlsOptions { MasterCertificateFile = Path.Combine(dir, "ca.crt"), TrustMode = MasterTrustMode.PinnedOnly }, server.Uri);
        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => fresh.GetStringAsync("/info"));
        Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
    }

    /// <summary>Requests in a loop on one client (its connections reused, as a real client's are) while <paramref name="rotate"/> runs; returns the failures.</summary>
    private static async Task<int> LoopUntilAsync(HttpClient client, Func<bool> done, Func<Task> rotate)
    {
        var failures = 0;
        var requests = 0;
        Task? rotation = null;
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (!(rotation is { IsCompleted: true } && done() && requests > 40))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"the rotation did not complete: {requests} requests, {failures} failures");
            if (requests == 20 && rotation is null)
            {
                rotation = Task.Run(rotate);
            }

            try
            {
                await client.GetStringAsync("/info");
                requests++;
            }
            catch (Exception ex) when (ex is HttpRequestException or DeterminedException)
            {
                failures++;
            }

            await Task.Delay(10);
        }

        await rotation!;
        return failures;
    }

    private static void WriteAll(string dir, Dictionary<string, string> files)
    {
        foreach (var (name, contents) in files)
        {
            File.WriteAllText(Path.Combine(dir, name), contents);
        }
    }

    /// <summary><c>cp -p</c> from a staging copy whose files are an hour older than the ones they replace.</summary>
    private static async Task CopyPreservingOlderTimeAsync(string dir, Dictionary<string, string> files)
    {
        var staging = dir + ".staging";
        Directory.CreateDirectory(staging);
        WriteAll(staging, files);
        foreach (var name in files.Keys)
        {
            File.SetLastWriteTimeUtc(Path.Combine(staging, name), File.GetLastWriteTimeUtc(Path.Combine(dir, name)).AddHours(-1));
        }

        var cp = await ChildProcess.RunAsync("cp", ["-p", .. files.Keys.Select(n => Path.Combine(staging, n)), dir]);
        Assert.True(cp.ExitCode == 0, cp.Output);
    }
}
