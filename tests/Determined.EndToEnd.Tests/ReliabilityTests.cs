using System.Net;
using System.Net.Sockets;
using System.Text;
using Determined.Samples.Common.Configuration;
using Determined.Samples.Common.Protocol;
using Determined.Samples.Master;
using Determined.Samples.Master.Api;
using Determined.Samples.Master.Configuration;
using Determined.Sdk;
using Determined.Security;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>Faults, hostile peers and access control against the sample master and agent (issue: reliability and security).</summary>
public sealed class ReliabilityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task HostilePeersOnTheTlsPort_NormalClientsSeeNoFailures_StalledHandshakesAreTimedOut()
    {
        await using var pki = new Cluster(dnsOnlyName: false);
        await using var master = await MasterHost.StartAsync(
            new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = pki.MasterCertFile, TlsKey = pki.MasterKeyFile, HandshakeTimeout = TimeSpan.FromSeconds(1) },
            _ => null,
            logging: _ => { });
        var port = master.Uri.Port;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var failures = 0;
        var requests = 0;
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = pki.CaFile })));
        var normal = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = new HttpClient(factory.CreateHandler(master.Uri)); // new connections each round
                for (var j = 0; j < 5; j++)
                {
                    try
                    {
                        (await client.GetAsync(new Uri(master.Uri, "/info"))).EnsureSuccessStatusCode();
                        Interlocked.Increment(ref requests);
                    }
                    catch (Exception)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            }
        })).ToList();

        var stalled = new List<TcpClient>();
        var random = new Random(7);
        var attacks = 0;
        while (!stop.IsCancellationRequested)
        {
            attacks++;
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            var stream = tcp.GetStream();
            var bytes = (attacks % 3) switch
            {
                0 => Encoding.ASCII.GetBytes("GET /info HTTP/1.1\r\nHost: x\r\n\r\n"),
                1 => [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03], // a truncated ClientHello
                _ => Garbage(random),
            };
            await stream.WriteAsync(bytes);
            if (attacks % 10 == 0)
            {
                var idle = new TcpClient();
                await idle.ConnectAsync(IPAddress.Loopback, port); // connects and never says anything
                stalled.Add(idle);
            }

            await Task.Delay(20);
        }

        await Task.WhenAll(normal);
        // Every stalled connection is closed by the server once the handshake timeout passes.
        var closed = 0;
        foreach (var idle in stalled)
        {
            idle.ReceiveTimeout = 5000;
            try
            {
                if (await idle.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(5)) == 0)
                {
                    closed++;
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                closed++;
            }

            idle.Dispose();
        }

        output.WriteLine($"{requests} normal requests, {failures} failures, {attacks} hostile connections, {stalled.Count} stalled handshakes, {closed} closed by the server");
        Assert.Equal(0, failures);
        Assert.True(requests > 20);
        Assert.Equal(stalled.Count, closed);
    }

    private static byte[] Garbage(Random random)
    {
        var bytes = new byte[random.Next(1, 2048)];
        random.NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void AllocationToken_CannotWriteLogsOfAnotherAllocation()
    {
        var auth = new AuthService([], _ => null);
        var a = new AllocationIdentity("task-a", "task-a.1", "determined");
        var tasks = new Samples.Master.Tasks.TaskRegistry(new Samples.Master.Agents.AgentDirectory(), auth, new Samples.Master.Tasks.MasterIdentity("m", "c", "n", "v"), () => string.Empty, Microsoft.Extensions.Logging.Abstractions.NullLogger<Samples.Master.Tasks.TaskRegistry>.Instance);

        Assert.False(tasks.AddTaskLog(a, "task-b.1", "forged", "stdout"));
    }

    [Fact]
    public async Task TaskLogs_WithAnotherAllocationId_Are403_AndLogoutInvalidatesTheToken()
    {
        await using var pki = new Cluster(dnsOnlyName: false);
        await using var master = await MasterHost.StartAsync(new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = pki.MasterCertFile, TlsKey = pki.MasterKeyFile }, _ => null, logging: _ => { });
        var token = master.Auth.IssueAllocationToken(new AllocationIdentity("task-a", "task-a.1", "determined"));
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = pki.CaFile })));
        using var http = new HttpClient(factory.CreateHandler(master.Uri)) { BaseAddress = master.Uri };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/task/logs") { Content = new StringContent("{\"logs\":[{\"allocationId\":\"task-b.1\",\"log\":\"forged\"}]}") };
        request.Headers.TryAddWithoutValidation("Grpc-Metadata-x-allocation-token", "Bearer " + token);

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("PermissionDenied", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpiredClientCertificate_IsRefusedAtTls()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true, mtls: true);
        using var expired = cluster.Ca.IssueClientCertificate("expired-agent", TimeSpan.FromMinutes(-30));
        var args = cluster.AgentArgsWithClientCertificate("expired-agent", expired);

        var agent = cluster.StartAgent(args, "expired-agent");

        Assert.Equal(1, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await cluster.Master!.WaitForLineAsync("Refused a client certificate 'CN=expired-agent'.*NotTimeValid");
    }

    [Fact]
    public async Task MasterRestarted_AgentReconnectsWithItsIdentity()
    {
        await using var cluster = new Cluster();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        await cluster.StartMasterOnPortAsync(port, tls: true);
        var args = cluster.AgentArgs(reconnectAttempts: 40);
        var agent = await cluster.StartRegisteredAgentAsync(args);
        var first = cluster.Master!;

        await first.DisposeAsync(); // the master goes away (SIGKILL)
        await agent.WaitForLineAsync("Lost the connection to the master|Connecting to .* failed");
        await cluster.StartMasterOnPortAsync(port, tls: true);

        await cluster.Master!.WaitForLineAsync("Agent agent-1 registered .*reconnect=true");
        await agent.WaitForLineAsync("registered with the master \\(reconnect=True\\)");
    }

    [Fact]
    public async Task MasterKilledAndRestarted_AClientLoopingCalls_SeesNoFailure()
    {
        // The fault run: the sample master is killed (SIGKILL) and restarted on the same port 2 s later while a client
        // (pinned CA and name override, as a task has them) loops GET /info every 100 ms. The outage is far shorter than
        // the client's Timeout: no call may fail. (That a POST is never sent twice is tested in UnreachableMasterTests.)
        await using var cluster = new Cluster();
        var port = HostileServer.ClosedPort();
        await cluster.StartMasterOnPortAsync(port, tls: true);
        using var client = DeterminedClient.FromEnvironment(
            new DeterminedClientOptions { MasterUrl = $"https://127.0.0.1:{port}", UseEnvironment = false, UseTokenStore = false, UseCertificateStore = false, Timeout = TimeSpan.FromSeconds(60), Tls = { MasterCertificateFile = cluster.CaFile, MasterCertificateName = "determined-master-ci" } });
        using var stop = new CancellationTokenSource();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var gets = 0;
        var duringOutage = 0;
        var outage = false;
        var loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var started = Volatile.Read(ref outage);
                    await client.GetInfoAsync();
                    Interlocked.Increment(ref gets);
                    if (started)
                    {
                        Interlocked.Increment(ref duringOutage);
                    }
                }
                catch (Exception ex) when (ex is DeterminedException or HttpRequestException)
                {
                    failures.Enqueue(ex.GetType().Name + ": " + ex.Message);
                }

                await Task.Delay(100);
            }
        });

        await Eventually.WaitAsync(() => Volatile.Read(ref gets) >= 5, "calls before the restart");
        Volatile.Write(ref outage, true);
        await cluster.Master!.DisposeAsync(); // SIGKILL
        var restarted = Task.Run(async () =>
        {
            await Task.Delay(2000);
            await cluster.StartMasterOnPortAsync(port, tls: true);
        });
        var before = Volatile.Read(ref gets);
        await restarted;
        await Eventually.WaitAsync(() => Volatile.Read(ref gets) >= before + 5, "calls after the restart");
        await stop.CancelAsync();
        await loop;

        Assert.True(failures.IsEmpty, $"{failures.Count} calls failed across the restart: {string.Join(" | ", failures.Take(3))}");
        Assert.True(duringOutage >= 1, "no call was made while the master was down");
    }


    [Fact]
    public async Task SigTerm_StopsTheAgentAndTheMasterInOrder_WithExitCodeZero()
    {
        // Containers, systemd and supervisors stop programs with SIGTERM; ignoring it means being killed after the grace period.
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true);
        var agent = await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var client = await cluster.LoginAsync();
        var taskId = await Cluster.LaunchTaskAsync(client, command: ["sleep", "617"]);
        await agent.WaitForLineAsync("Started task .*: sleep 617");
        var task = await WaitForTaskProcessAsync("sleep 617");

        await Signal(agent, "TERM");
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        await cluster.Master!.WaitForLineAsync("Agent agent-1 disconnected");
        Assert.True(task.WaitForExit(TimeSpan.FromSeconds(10)), $"the agent's task {taskId} still runs after the agent stopped");

        await Signal(cluster.Master!, "TERM");
        Assert.Equal(0, await cluster.Master!.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    private static async Task<System.Diagnostics.Process> WaitForTaskProcessAsync(string commandLine)
    {
        for (var i = 0; i < 200; i++)
        {
            foreach (var process in System.Diagnostics.Process.GetProcessesByName(commandLine.Split(' ')[0]))
            {
                if (File.ReadAllText($"/proc/{process.Id}/cmdline").Replace('\0', ' ').Trim() == commandLine)
                {
                    return process;
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"no process '{commandLine}' started within 10 s");
    }

    private static async Task Signal(Determined.Testing.RunningProcess process, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-" + signal, process.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    [Fact]
    public void AgentMessagesAndYaml_AnyInput_NeverThrow()
    {
        var tried = 0;
        var fragments = new[] { "{", "}", "\"StartContainer\":", "\"MasterSetAgentOptions\":{}", "\"Container\":{\"ID\":1}", "[", "null", "\"Spec\":{\"Command\":[]}", ",", "\"\\u0000\"" };
        foreach (var text in Security.Tests.Reliability.HostileInputCorpus.Generate(11, fragments))
        {
            _ = ProtocolJson.ParseMaster(text);
            _ = ProtocolJson.ParseAgent(text);
            tried++;
        }

        var dir = Directory.CreateTempSubdirectory("det-yaml-fuzz-").FullName;
        try
        {
            var yamlFragments = new[] { "port: 1\n", "security:\n", "  tls:\n", "    cert: x\n", "- a\n", "users:\n  - username: u\n", ": :\n", "&a *a\n", "\t", "'", "\"", "{", "[" };
            foreach (var text in Security.Tests.Reliability.HostileInputCorpus.Generate(12, yamlFragments, 1500))
            {
                var file = Path.Combine(dir, "master.yaml");
                File.WriteAllText(file, text);
                var errors = new List<string>();
                _ = MasterConfigLoader.Load(file, new Dictionary<string, string>(), _ => null, _ => { }, errors);
                Assert.All(errors, e => Assert.False(string.IsNullOrWhiteSpace(e)));
                tried++;
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        output.WriteLine($"{tried} agent-protocol messages and YAML files tried; none threw");
        Assert.True(tried > 4000);
    }
}
