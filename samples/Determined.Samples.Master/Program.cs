using System.CommandLine;
using Determined.Samples.Common.Hosting;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;

var configFile = new Option<string?>("--config-file") { Description = "YAML configuration file (env DET_CONFIG_FILE; default /etc/determined/master.yaml, a missing default is only a warning)." };
var flags = new (string Key, Option<string?> Option)[]
{
    ("port", new Option<string?>("--port") { Description = "Port to listen on (env DET_PORT). Unset: 8443 with TLS, 8080 without; 0 lets the OS choose." }),
    ("listen_address", new Option<string?>("--listen-address") { Description = "IP address to listen on (env DET_LISTEN_ADDRESS). Default 0.0.0.0 (all interfaces)." }),
    ("cluster_name", new Option<string?>("--cluster-name") { Description = "Cluster name reported by /info (env DET_CLUSTER_NAME)." }),
    ("security.tls.cert", new Option<string?>("--security-tls-cert") { Description = "PEM certificate chain: leaf first, then intermediates (env DET_SECURITY_TLS_CERT). TLS is on only with both cert and key. Reloaded without a restart when replaced." }),
    ("security.tls.key", new Option<string?>("--security-tls-key") { Description = "PEM private key of the leaf (env DET_SECURITY_TLS_KEY)." }),
    ("security.tls.handshake_timeout", new Option<string?>("--security-tls-handshake-timeout") { Description = "Seconds a client may take to complete the TLS handshake (env DET_SECURITY_TLS_HANDSHAKE_TIMEOUT). Default 10s." }),
    ("resource_manager.require_authentication", new Option<string?>("--resource-manager-require-authentication") { Description = "true: agents must present a client certificate; /agents answers 403 without one (env DET_RESOURCE_MANAGER_REQUIRE_AUTHENTICATION)." }),
    ("resource_manager.client_ca", new Option<string?>("--resource-manager-client-ca") { Description = "CA file (or directory) agent client certificates must chain to; system roots when unset (env DET_RESOURCE_MANAGER_CLIENT_CA)." }),
    ("resource_manager.agent_certificate_names", new Option<string?>("--resource-manager-agent-certificate-names") { Description = "This sample's extension: id=name[,name];... lets an agent id register with a client certificate for another CN or DNS SAN (env DET_RESOURCE_MANAGER_AGENT_CERTIFICATE_NAMES)." }),
    ("security.token.default_lifespan_days", new Option<string?>("--security-token-default-lifespan-days") { Description = "Days a user session token lives; default 30, as upstream (env DET_SECURITY_TOKEN_DEFAULT_LIFESPAN_DAYS)." }),
    ("limits.max_connections", new Option<string?>("--limits-max-connections") { Description = "Most connections open at once; more are closed at accept, before TLS (env DET_LIMITS_MAX_CONNECTIONS). Default 2048." }),
    ("limits.max_connections_per_address", new Option<string?>("--limits-max-connections-per-address") { Description = "Most connections one client address may hold open (env DET_LIMITS_MAX_CONNECTIONS_PER_ADDRESS). Default 256." }),
    ("limits.idle_timeout", new Option<string?>("--limits-idle-timeout") { Description = "Seconds a connection may stay open without a request (env DET_LIMITS_IDLE_TIMEOUT). Default 30." }),
    ("limits.request_headers_timeout", new Option<string?>("--limits-request-headers-timeout") { Description = "Seconds a client may take to send a request's headers (env DET_LIMITS_REQUEST_HEADERS_TIMEOUT). Default 10." }),
    ("limits.max_agent_connections", new Option<string?>("--limits-max-agent-connections") { Description = "Most websocket (agent) connections at once (env DET_LIMITS_MAX_AGENT_CONNECTIONS). Default 1024." }),
    ("limits.max_log_entries_per_request", new Option<string?>("--limits-max-log-entries-per-request") { Description = "Most log entries one POST /api/v1/task/logs may carry (env DET_LIMITS_MAX_LOG_ENTRIES_PER_REQUEST). Default 10000." }),
};

var root = new RootCommand("Sample Determined master: TLS with hot certificate reload, mTLS for agents, the REST subset (/info, /api/v1/master, login, logout, me, task logs, agents, commands, tasks), the /agents websocket, and task launching. Precedence: flag > env > file > default.")
{
    configFile,
};
foreach (var (_, option) in flags)
{
    root.Options.Add(option);
}

root.SetAction(async (parse, cancellationToken) =>
{
    using var stopping = new ShutdownSignals(cancellationToken);
    var given = new Dictionary<string, string>(StringComparer.Ordinal);
    foreach (var (key, option) in flags)
    {
        if (parse.GetValue(option) is { } value)
        {
            given[key] = value;
        }
    }

    var errors = new List<string>();
#pragma warning disable RS0030 // A host program reads its own environment.
    Func<string, string?> env = Environment.GetEnvironmentVariable;
#pragma warning restore RS0030
    var config = MasterConfigLoader.Load(parse.GetValue(configFile), given, env, w => Console.Error.WriteLine("warning: " + w), errors);
    errors.AddRange(config.Validate());
    if (errors.Count > 0)
    {
        foreach (var e in errors)
        {
            Console.Error.WriteLine("error: " + e);
        }

        return 1;
    }

    MasterHost host;
    try
    {
        host = await MasterHost.StartAsync(config, env, cancellationToken: stopping.Token);
    }
    catch (Exception ex) when (ex is InvalidOperationException or IOException or Determined.DeterminedConfigurationException)
    {
        Console.Error.WriteLine("error: " + ex.Message);
        return 1;
    }

    await using (host)
    {
        var done = new TaskCompletionSource();
        using var registration = stopping.Token.Register(() => done.TrySetResult());
        await done.Task;
    }

    return 0;
});

return await root.Parse(args).InvokeAsync();
