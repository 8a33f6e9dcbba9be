using System.Text.Json.Nodes;
using Determined.Security;

namespace Determined.EndToEnd.Tests;

/// <summary>master → agent → task → master over TLS, with real processes on 127.0.0.1 (issue: agent host and task program).</summary>
public sealed class FlowTests
{
    private static void AssertTaskSucceeded(JsonNode task, JsonArray logs)
    {
        Assert.True(Cluster.ExitCode(task) == 0, $"task failed: {task.ToJsonString()}\n{logs.ToJsonString()}");
        var lines = logs.Select(l => (string?)l!["log"]).ToList();
        Assert.Contains(lines, l => l == "training complete");
        // The task's own log lines, posted with its allocation token, reached the master.
        Assert.Contains(logs, l => (string?)l!["source"] == "task" && ((string?)l["log"])!.StartsWith("training step 3/3", StringComparison.Ordinal));
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LeafOf(string pemFile)
    {
        var all = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        all.ImportFromPem(File.ReadAllText(pemFile));
        return all[0];
    }

    [Fact]
    public async Task CiScenario_DnsOnlyCertificate_AgentByIpWithMasterCertAndName_TaskConnectsWithInjectedEnvOnly()
    {
        await using var cluster = new Cluster(dnsOnlyName: true);
        await cluster.StartMasterAsync(tls: true);
        var agent = await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var client = await cluster.LoginAsync();

        var taskId = await Cluster.LaunchTaskAsync(client);
        var (task, logs) = await Cluster.WaitForTaskAsync(client, taskId);

        AssertTaskSucceeded(task, logs);
        var lines = logs.Select(l => (string?)l!["log"]).ToList();
        Assert.Contains(lines, l => l!.Contains("Tls.MasterCertificateFile", StringComparison.Ordinal) && l.Contains("DET_MASTER_CERT_FILE", StringComparison.Ordinal));
        Assert.Contains(lines, l => l!.Contains("Tls.MasterCertificateName = determined-master-ci", StringComparison.Ordinal));
        var certFile = Path.Combine(cluster.Directory, "agent-1-master.crt");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(certFile));
        Assert.DoesNotContain("PRIVATE KEY", await File.ReadAllTextAsync(certFile), StringComparison.Ordinal);
        cluster.AssertNoSecretsInOutput();
        Assert.Contains("PinnedOnly", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MutualTls_AgentWithClientCertificateRegisters_WithoutOneGets403AndNamesTheSetting()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true, mtls: true);

        await cluster.StartRegisteredAgentAsync(cluster.AgentArgs("agent-1", clientCert: true));
        await cluster.Master!.WaitForLineAsync("Agent agent-1 registered .*client certificate CN=agent-1");

        var anonymous = cluster.StartAgent(cluster.AgentArgs("agent-2", clientCert: false), "agent-2");
        Assert.Equal(1, await anonymous.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("403", anonymous.Output, StringComparison.Ordinal);
        Assert.Contains("security.tls.client_cert", anonymous.Output, StringComparison.Ordinal);
        Assert.Contains("this agent sent none", anonymous.Output, StringComparison.Ordinal);
        await cluster.Master.WaitForLineAsync("Refused agent agent-2");

        using var client = await cluster.LoginAsync();
        var (task, logs) = await Cluster.WaitForTaskAsync(client, await Cluster.LaunchTaskAsync(client, "agent-1"));
        AssertTaskSucceeded(task, logs);
        cluster.AssertNoSecretsInOutput();
    }

    [Fact]
    public async Task MutualTls_AgentIdNotItsCertificatesName_OrAConnectedIdWithAnotherCertificate_IsRefused_TheRealAgentKeepsItsTasks()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true, mtls: true);
        await cluster.StartRegisteredAgentAsync(cluster.AgentArgs("agent-1", clientCert: true));

        // A valid certificate of the same CA for agent-2, claiming the id agent-1.
        using var other = cluster.Ca.IssueClientCertificate("agent-2");
        var impostor = cluster.StartAgent(cluster.AgentArgsWithClientCertificate("agent-1", other), "impostor");
        Assert.Equal(1, await impostor.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await cluster.Master!.WaitForLineAsync("Refused agent agent-1 .*its client certificate 'CN=agent-2' names agent-2, not that id");
        // The agent says why, not "sent none": the id is not its certificate's name (each name once), and how to fix it.
        Assert.Contains("refused the agent 'agent-1' with 403: the agent id is not a name of this agent's client certificate 'CN=agent-2' (its names: agent-2)", impostor.Output, StringComparison.Ordinal);
        Assert.Contains("--agent-id", impostor.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("sent none", impostor.Output, StringComparison.Ordinal);

        // Another certificate for agent-1 itself (not the connected one): the connected session is not replaced.
        using var second = cluster.Ca.IssueClientCertificate("agent-1");
        var twin = cluster.StartAgent(cluster.AgentArgsWithClientCertificate("agent-1", second), "twin");
        Assert.Equal(1, await twin.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await cluster.Master.WaitForLineAsync("Refused agent agent-1 .*already connected|Refused agent agent-1 .*is connected with the client certificate");
        Assert.Contains("with 409: an agent with this id is already connected with another client certificate", twin.Output, StringComparison.Ordinal);

        using var client = await cluster.LoginAsync();
        var (task, logs) = await Cluster.WaitForTaskAsync(client, await Cluster.LaunchTaskAsync(client, "agent-1"));
        AssertTaskSucceeded(task, logs);
    }

    [Fact]
    public async Task MutualTls_AgentCertificateFromAnotherCa_IsRefusedInTheHandshake_TheAgentNamesItsIssuerAndClientCa()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true, mtls: true);
        using var foreignCa = DevelopmentCertificateAuthority.Create("Foreign CA");
        using var foreign = foreignCa.IssueClientCertificate("agent-1");

        var agent = cluster.StartAgent(cluster.AgentArgsWithClientCertificate("agent-1", foreign), "foreign");
        Assert.Equal(1, await agent.WaitForExitAsync(TimeSpan.FromSeconds(90)));

        await cluster.Master!.WaitForLineAsync("Refused a client certificate 'CN=agent-1'");
        Assert.True(agent.Output.Contains("resource_manager.client_ca", StringComparison.Ordinal) && agent.Output.Contains("issued by 'CN=Foreign CA'", StringComparison.Ordinal), agent.Output);
    }

    [Fact]
    public async Task TaskCredentials_NeverLaunchCommands_EveryCredentialMustBeValid_AndTheyEndWithTheTask()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: false);
        await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var client = await cluster.LoginAsync();
        var dir = Path.Combine(cluster.Directory, "task-out");
        Directory.CreateDirectory(dir);
        // The task hands its two tokens to the test through files and waits (bounded) until the test is done with it.
        var script = $"printf %s \"$DET_SESSION_TOKEN\" > {dir}/alloc; printf %s \"$DET_USER_TOKEN\" > {dir}/user; i=0; while [ ! -e {dir}/done ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done";
        var taskId = await Cluster.LaunchTaskAsync(client, "agent-1", ["/bin/sh", "-c", script]);
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(dir, "user")) && guard.Elapsed < TimeSpan.FromMinutes(1))
        {
            await Task.Delay(50);
        }

        await Task.Delay(100); // both files written by printf; read them whole
        var allocation = File.ReadAllText(Path.Combine(dir, "alloc"));
        var taskUser = File.ReadAllText(Path.Combine(dir, "user"));
        cluster.Secrets.Add(allocation);
        cluster.Secrets.Add(taskUser);
        using var http = new HttpClient { BaseAddress = cluster.MasterUri };

        async Task<int> SendAsync(HttpMethod method, string path, string? authorization, bool withAllocation)
        {
            using var request = new HttpRequestMessage(method, path);
            if (method == HttpMethod.Post)
            {
                request.Content = new StringContent("{\"command\":[\"/bin/true\"]}", System.Text.Encoding.UTF8, "application/json");
            }

            if (authorization is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }

            if (withAllocation)
            {
                request.Headers.TryAddWithoutValidation("Grpc-Metadata-x-allocation-token", "Bearer " + allocation);
            }

            using var response = await http.SendAsync(request);
            return (int)response.StatusCode;
        }

        Assert.Equal(401, await SendAsync(HttpMethod.Post, "/api/v1/commands", null, withAllocation: true));
        Assert.Equal(401, await SendAsync(HttpMethod.Post, "/api/v1/commands", "Bearer bogus", withAllocation: true));
        Assert.Equal(401, await SendAsync(HttpMethod.Post, "/api/v1/commands", string.Empty, withAllocation: true));
        Assert.Equal(200, await SendAsync(HttpMethod.Get, "/api/v1/me", null, withAllocation: true));
        Assert.Equal(200, await SendAsync(HttpMethod.Get, "/api/v1/me", "Bearer " + taskUser, withAllocation: true));
        Assert.Equal(200, await SendAsync(HttpMethod.Get, $"/api/v1/tasks/{taskId}", null, withAllocation: true)); // its own task
        Assert.Equal(401, await SendAsync(HttpMethod.Get, "/api/v1/tasks/someone-elses", null, withAllocation: true));
        Assert.Equal(401, await SendAsync(HttpMethod.Get, "/api/v1/agents", null, withAllocation: true)); // not acting as the user

        File.WriteAllText(Path.Combine(dir, "done"), string.Empty);
        await Cluster.WaitForTaskAsync(client, taskId);

        Assert.Equal(401, await SendAsync(HttpMethod.Get, "/api/v1/me", null, withAllocation: true));
        Assert.Equal(401, await SendAsync(HttpMethod.Get, "/api/v1/me", "Bearer " + taskUser, withAllocation: false));
    }

    [Fact]
    public async Task MutualTls_AgentIdMappedToAnotherCertificateName_Registers()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(true, true, "--resource-manager-agent-certificate-names", "gpu-node-7=node7.example.com");
        using var certificate = cluster.Ca.IssueClientCertificate("node7.example.com");

        var agent = await cluster.StartRegisteredAgentAsync(cluster.AgentArgsWithClientCertificate("gpu-node-7", certificate), "gpu-node-7");

        await cluster.Master!.WaitForLineAsync("Agent gpu-node-7 registered .*client certificate CN=node7.example.com");
        Assert.False(agent.Process.HasExited);
    }

    [Fact]
    public async Task WebSocketPeer_LeavingBeforeAgentStarted_IsOneLogLine_NotAnUnhandledError()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: false);
        using (var socket = new System.Net.WebSockets.ClientWebSocket())
        {
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{cluster.MasterUri.Port}/agents?id=ghost&reconnect=false&hostname=h&version=1"), CancellationToken.None);
            var buffer = new byte[64 * 1024];
            await socket.ReceiveAsync(buffer, CancellationToken.None); // MasterSetAgentOptions
            socket.Abort(); // gone before AgentStarted
        }

        await cluster.Master!.WaitForLineAsync("Agent ghost from .* left before registering");
        Assert.DoesNotContain("fail:", cluster.Master.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", cluster.Master.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MutualTls_ClientCertificateFromAnotherCa_IsRefused()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true, mtls: true);
        using var otherCa = DevelopmentCertificateAuthority.Create("Other CA");
        using var other = otherCa.IssueClientCertificate("intruder");
        var args = cluster.AgentArgsWithClientCertificate("intruder", other);

        var intruder = cluster.StartAgent(args, "intruder");

        Assert.Equal(1, await intruder.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await cluster.Master!.WaitForLineAsync("Refused a client certificate 'CN=intruder'");
        Assert.DoesNotContain("registered with the master", intruder.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MutualTls_ClientCertificateNamingAnIssuerUrl_TheMasterNeverFetchesIt()
    {
        // An intruder's certificate whose issuer is not sent but named by URL (AIA caIssuers): a master that followed it
        // would make requests of the client's choosing (request forgery from the master's network position).
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true, mtls: true);
        await using var issuerUrl = Determined.Testing.HostileServer.Start((_, _, stream, ct) => Determined.Testing.HostileServer.RespondAsync(stream, 200, "not a certificate", ct));
        var otherRoot = Determined.Testing.TestCertificates.CreateRoot("Intruder Root");
        var otherIntermediate = Determined.Testing.TestCertificates.CreateIntermediate(otherRoot, "Intruder Intermediate");
        var intruder = Determined.Testing.TestCertificates.CreateLeaf(otherIntermediate, new Determined.Testing.TestCertificates.LeafSpec
        {
            Usages = [Determined.Testing.TestCertificates.ClientAuth],
            Extensions = [new System.Security.Cryptography.X509Certificates.X509AuthorityInformationAccessExtension(null, [new Uri(issuerUrl.Uri, "/intermediate.crt").ToString()])],
        });

        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, cluster.MasterUri.Port);
        using var ssl = new System.Net.Security.SslStream(tcp.GetStream());
        var handshake = await Record.ExceptionAsync(() => ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "determined-master-ci",
            ClientCertificateContext = System.Net.Security.SslStreamCertificateContext.Create(intruder, null, offline: true), // this client fetches nothing either
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }));
        await cluster.Master!.WaitForLineAsync("Refused a client certificate 'CN=test-master'");

        Assert.True(issuerUrl.Requests == 0, $"the master fetched the intruder's issuer URL {issuerUrl.Requests} time(s) (handshake: {handshake?.Message ?? "completed"})");
    }

    [Fact]
    public async Task WrongMasterCert_AgentSaysUntrustedRootAndShowsTheFingerprint()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true);
        using var otherCa = DevelopmentCertificateAuthority.Create("Other CA");
        var otherFile = Path.Combine(cluster.Directory, "other-ca.crt");
        otherCa.WriteRootCertificate(otherFile);

        var agent = cluster.StartAgent(cluster.AgentArgs(masterCert: otherFile));

        Assert.Equal(1, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("(UntrustedRoot)", agent.Output, StringComparison.Ordinal);
        var leaf = LeafOf(cluster.MasterCertFile);
        Assert.Contains(CertificatePin.Sha256Fingerprint(leaf), agent.Output, StringComparison.Ordinal);
        Assert.Contains("security.tls.master_cert", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SkipVerify_Works_AndTheWarningIsLogged()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true);
        var args = new List<string>
        {
            "--master-host", "127.0.0.1", "--master-port", cluster.MasterUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--agent-id", "agent-1", "--cert-path", Path.Combine(cluster.Directory, "skip.crt"),
            "--security-tls-enabled", "true", "--security-tls-skip-verify", "true",
        };

        var agent = await cluster.StartRegisteredAgentAsync(args);

        Assert.Contains("verification is OFF", agent.Output, StringComparison.Ordinal);
        using var client = await cluster.LoginAsync();
        var (task, logs) = await Cluster.WaitForTaskAsync(client, await Cluster.LaunchTaskAsync(client));
        AssertTaskSucceeded(task, logs);
    }

    [Fact]
    public async Task PlainMasterAndAgent_WorkOverWsAndHttp_WithoutCertFile()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: false);
        var agent = await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var client = await cluster.LoginAsync();

        var (task, logs) = await Cluster.WaitForTaskAsync(client, await Cluster.LaunchTaskAsync(client));

        AssertTaskSucceeded(task, logs);
        Assert.Contains("over ws ", agent.Output, StringComparison.Ordinal);
        Assert.Contains(logs, l => ((string?)l!["log"])!.Contains("(TLS: False)", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(cluster.Directory, "agent-1-master.crt")));
    }

    [Fact]
    public async Task MasterCertificateRotated_WhileAgentConnected_NewTaskUsesTheNewChain()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: true);
        await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var client = await cluster.LoginAsync();
        var oldLeaf = LeafOf(cluster.MasterCertFile);

        using var renewed = cluster.Ca.IssueServerCertificate(["determined-master-ci"]);
        renewed.WritePemFiles(cluster.MasterCertFile + ".new", cluster.MasterKeyFile + ".new");
        File.Move(cluster.MasterKeyFile + ".new", cluster.MasterKeyFile, overwrite: true);
        File.Move(cluster.MasterCertFile + ".new", cluster.MasterCertFile, overwrite: true);

        // The next handshakes see the new certificate (the master checks the files before handshakes).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string seen;
        do
        {
            await Task.Delay(300);
            seen = (await MasterProbe.ProbeAsync(cluster.MasterUri, "determined-master-ci")).PresentedChain[0].Thumbprint;
        }
        while (seen == oldLeaf.Thumbprint && DateTime.UtcNow < deadline);

        Assert.Equal(renewed.Certificate.Thumbprint, seen);
        await cluster.Master!.WaitForLineAsync("Reloaded the TLS certificate");
        var (task, logs) = await Cluster.WaitForTaskAsync(client, await Cluster.LaunchTaskAsync(client));
        AssertTaskSucceeded(task, logs);
        var written = await File.ReadAllTextAsync(Path.Combine(cluster.Directory, "agent-1-master.crt"));
        Assert.StartsWith(renewed.Certificate.ExportCertificatePem(), written, StringComparison.Ordinal);
    }
}
