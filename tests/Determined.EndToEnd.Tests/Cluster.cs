using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Determined.Sdk;
using Determined.Security;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>A sample master and agents as real processes on 127.0.0.1, with a development PKI in a temp directory.</summary>
public sealed class Cluster : IAsyncDisposable
{
    private readonly List<RunningProcess> _processes = [];

    public Cluster(bool dnsOnlyName = true)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("det-e2e-").FullName;
        Ca = DevelopmentCertificateAuthority.Create("E2E Root CA", withIntermediate: true);
        CaFile = Path.Combine(Directory, "ca.crt");
        Ca.WriteRootCertificate(CaFile);
        using var leaf = dnsOnlyName
            ? Ca.IssueServerCertificate(["determined-master-ci"])
            : Ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        MasterCertFile = Path.Combine(Directory, "master.crt");
        MasterKeyFile = Path.Combine(Directory, "master.key");
        leaf.WritePemFiles(MasterCertFile, MasterKeyFile);
        using var agent = Ca.IssueClientCertificate("agent-1");
        AgentCertFile = Path.Combine(Directory, "agent.crt");
        AgentKeyFile = Path.Combine(Directory, "agent.key");
        agent.WritePemFiles(AgentCertFile, AgentKeyFile);
    }

    public string Directory { get; }

    public DevelopmentCertificateAuthority Ca { get; }

    public string CaFile { get; }

    public string MasterCertFile { get; }

    public string MasterKeyFile { get; }

    public string AgentCertFile { get; }

    public string AgentKeyFile { get; }

    public RunningProcess? Master { get; private set; }

    public Uri MasterUri { get; private set; } = null!;

    public bool Tls { get; private set; }

    public IEnumerable<RunningProcess> Processes => _processes;

    /// <summary>Outputs of short-lived programs (e.g. the CLI), scanned like the processes' output.</summary>
    public List<(string Name, string Output)> Captured { get; } = [];

    public void Capture(string name, string output) => Captured.Add((name, output));

    /// <summary>Tokens seen by the test; no process may print them.</summary>
    public List<string> Secrets { get; } = [];

    public static string MasterDll => ChildProcess.ProjectDll("samples/Determined.Samples.Master", "Determined.Samples.Master");

    public static string AgentDll => ChildProcess.ProjectDll("samples/Determined.Samples.Agent", "Determined.Samples.Agent");

    public static string TaskDll => ChildProcess.ProjectDll("samples/Determined.Samples.Task", "Determined.Samples.Task");

    public async Task StartMasterAsync(bool tls = true, bool mtls = false, params string[] extra) => await StartMasterOnPortAsync(0, tls, mtls, extra);

    public async Task StartMasterOnPortAsync(int port, bool tls = true, bool mtls = false, params string[] extra)
    {
        Tls = tls;
        var args = new List<string> { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--listen-address", "127.0.0.1" };
        if (tls)
        {
            args.AddRange(["--security-tls-cert", MasterCertFile, "--security-tls-key", MasterKeyFile]);
        }

        if (mtls)
        {
            args.AddRange(["--resource-manager-require-authentication", "true", "--resource-manager-client-ca", CaFile]);
        }

        args.AddRange(extra);
        Master = Track(RunningProcess.StartDotnet("master", MasterDll, args));
        var match = await Master.WaitForLineAsync(@"listening on (https?://127\.0\.0\.1:(\d+))");
        MasterUri = new Uri(match.Groups[1].Value);
    }

    public List<string> AgentArgs(string id = "agent-1", bool clientCert = false, string? masterCert = null, bool name = true, int reconnectAttempts = 3) =>
    [
        "--master-host", "127.0.0.1", "--master-port", MasterUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--agent-id", id, "--cert-path", Path.Combine(Directory, id + "-master.crt"),
        "--agent-reconnect-attempts", reconnectAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture), "--agent-reconnect-backoff", "0.5",
        .. Tls ? new[] { "--security-tls-enabled", "true", "--security-tls-master-cert", masterCert ?? CaFile } : ["--security-tls-enabled", "false"],
        .. Tls && name ? new[] { "--security-tls-master-cert-name", "determined-master-ci" } : [],
        .. clientCert ? new[] { "--security-tls-client-cert", AgentCertFile, "--security-tls-client-key", AgentKeyFile } : [],
    ];

    /// <summary>Agent arguments with a given client certificate (written to the cluster directory).</summary>
    public List<string> AgentArgsWithClientCertificate(string id, DevelopmentCertificate certificate)
    {
        var cert = Path.Combine(Directory, id + ".crt");
        var key = Path.Combine(Directory, id + ".key");
        certificate.WritePemFiles(cert, key);
        var args = AgentArgs(id);
        args.AddRange(["--security-tls-client-cert", cert, "--security-tls-client-key", key]);
        return args;
    }

    public RunningProcess StartAgent(IEnumerable<string> args, string name = "agent") =>
        Track(RunningProcess.StartDotnet(name, AgentDll, args));

    public async Task<RunningProcess> StartRegisteredAgentAsync(IEnumerable<string> args, string name = "agent")
    {
        var list = args.ToList();
        var agent = StartAgent(list, name);
        await agent.WaitForLineAsync("registered with the master");
        // The agent logs that once it has sent AgentStarted; the master registers it when that arrives.
        var id = list.IndexOf("--agent-id") is var i and >= 0 && i + 1 < list.Count ? list[i + 1] : null;
        if (Master is not null && id is not null)
        {
            await Master.WaitForLineAsync($"Agent {System.Text.RegularExpressions.Regex.Escape(id)} registered");
        }

        return agent;
    }

    /// <summary>A client of the master as the default user, trusting the dev CA with the name override.</summary>
    public async Task<DeterminedClient> LoginAsync()
    {
        var options = new DeterminedClientOptions { MasterUrl = MasterUri.ToString(), UseEnvironment = false, UseTokenStore = false, UseCertificateStore = false };
        if (Tls)
        {
            options.Tls.MasterCertificateFile = CaFile;
            options.Tls.MasterCertificateName = "determined-master-ci";
        }

        var client = DeterminedClient.FromEnvironment(options);
        var login = await client.LoginAsync("determined", string.Empty);
        Secrets.Add(login.Token!);
        return client;
    }

    public static async Task<string> LaunchTaskAsync(DeterminedClient client, string? agentId = null, IEnumerable<string>? command = null)
    {
        // Upstream's LaunchCommandRequest; agentId is the sample master's extension.
        var body = new JsonObject { ["config"] = new JsonObject { ["entrypoint"] = new JsonArray((command ?? ["dotnet", TaskDll]).Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()) } };
        if (agentId is not null)
        {
            body["agentId"] = agentId;
        }

        using var response = await client.SendAsync(HttpMethod.Post, "api/v1/commands", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return (string)JsonNode.Parse(text)!["command"]!["id"]!;
    }

    /// <summary>The exit code of a task (upstream's <c>taskv1.Task</c>: its allocation's <c>statusCode</c>).</summary>
    public static int? ExitCode(JsonNode task) => (int?)task["allocations"]?[0]?["statusCode"];

    /// <summary>Reads a grpc-gateway server stream (one <c>{"result": ...}</c> per line) as the array of its results.</summary>
    public static JsonArray ReadStream(string text) =>
        new([.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!["result"]!.DeepClone())]);

    /// <summary>Polls until the task terminated (bounded); returns its record (<c>taskv1.Task</c>) and logs.</summary>
    public static async Task<(JsonNode Task, JsonArray Logs)> WaitForTaskAsync(DeterminedClient client, string taskId, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            using var response = await client.SendAsync(HttpMethod.Get, $"api/v1/tasks/{taskId}");
            var task = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["task"]!;
            if ((string?)task["allocations"]![0]!["state"] == "STATE_TERMINATED")
            {
                using var logsResponse = await client.SendAsync(HttpMethod.Get, $"api/v1/tasks/{taskId}/logs");
                return (task, ReadStream(await logsResponse.Content.ReadAsStringAsync()));
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"task {taskId} did not finish: {task.ToJsonString()}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Asserts that no output of any process contains private keys or the given secrets.</summary>
    public void AssertNoSecretsInOutput(params string[] secrets)
    {
        var keyLines = new[] { MasterKeyFile, AgentKeyFile }.SelectMany(f => File.ReadAllLines(f)).Where(l => l.Length > 20 && !l.StartsWith("-----", StringComparison.Ordinal)).ToList();
        foreach (var process in _processes.Select(p => (p.Name, p.Output)).Concat(Captured))
        {
            var output = process.Output;
            foreach (var token in Secrets)
            {
                Assert.False(output.Contains(token, StringComparison.Ordinal), $"{process.Name} printed a token");
            }

            Assert.DoesNotContain("PRIVATE KEY", output, StringComparison.Ordinal);
            foreach (var secret in secrets.Concat(keyLines).Where(s => !string.IsNullOrEmpty(s)))
            {
                Assert.False(output.Contains(secret, StringComparison.Ordinal), $"{process.Name} printed a secret");
            }
        }
    }

    public RunningProcess Track(RunningProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            await p.DisposeAsync();
        }

        // Every test's processes are scanned: no private key material, no token the test saw.
        AssertNoSecretsInOutput();

        Ca.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
