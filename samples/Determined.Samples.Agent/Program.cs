using System.CommandLine;
using Determined;
using Determined.Samples.Agent;
using Determined.Samples.Agent.Configuration;
using Determined.Samples.Agent.Hosting;
using Determined.Samples.Common.Configuration;
using Determined.Security;

var configFile = new Option<string?>("--config-file") { Description = "YAML configuration file (env DET_CONFIG_FILE; default /etc/determined/agent.yaml, a missing default is only a warning)." };
var descriptions = new Dictionary<string, string>
{
    ["master_host"] = "Master host name or IP (required).",
    ["master_port"] = "Master port. Unset: 443 with TLS, 80 without.",
    ["agent_id"] = "Agent id. Default: the host name.",
    ["resource_pool"] = "Resource pool. Default: default.",
    ["container_master_host"] = "Master host that tasks use (DET_MASTER); default master_host.",
    ["container_master_port"] = "Master port that tasks use; default the agent's master port.",
    ["agent_reconnect_attempts"] = "Reconnect attempts after losing the master. Default 5.",
    ["agent_reconnect_backoff"] = "Seconds between reconnect attempts. Default 5.",
    ["cert_path"] = "Where the master's chain is written for tasks (DET_MASTER_CERT_FILE). Default /run/determined/etc/ssl/master.crt.",
    ["security.tls.enabled"] = "Dial wss:// (true) or ws:// (false). Default false.",
    ["security.tls.skip_verify"] = "DANGEROUS: accept any master certificate. Cannot be combined with master_cert.",
    ["security.tls.master_cert"] = "CA/cert PEM file that replaces the system roots for the master.",
    ["security.tls.master_cert_name"] = "Name expected in the master certificate when it differs from master_host (sent as SNI).",
    ["security.tls.client_cert"] = "PEM client certificate for mutual TLS (YAML or flag only).",
    ["security.tls.client_key"] = "PEM private key of the client certificate, or a PKCS#12 keystore as client_cert (YAML or flag only).",
    ["security.tls.client_key_password_file"] = "File holding the password of an encrypted client key or PKCS#12 keystore (YAML or flag only; never the password itself).",
};
var flags = AgentConfig.Keys.Select(k => (Key: k, Option: new Option<string?>(LayeredConfig.FlagName(k))
{
    Description = descriptions[k] + (AgentConfig.EnvKeys.Contains(k) ? $" (env {LayeredConfig.EnvName(k)})" : string.Empty),
})).ToList();

var root = new RootCommand("Sample Determined agent: registers with the master over wss:// using Determined.Security trust and launches tasks as child processes with Determined's task environment. Precedence: flag > env > file > default.")
{
    configFile,
};
foreach (var (_, option) in flags)
{
    root.Options.Add(option);
}

root.SetAction(async (parse, cancellationToken) =>
{
    // The generic host without its defaults: no appsettings.json, no other environment variables, no command-line
    // configuration; the agent's configuration is upstream's (YAML file, DET_* variables, flags), and only that.
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ApplicationName = "Determined.Samples.Agent" });
    builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
    builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);

    var given = flags.Where(f => parse.GetValue(f.Option) is not null).ToDictionary(f => f.Key, f => parse.GetValue(f.Option)!);
    var warnings = new List<string>();
    var errors = new List<string>();
#pragma warning disable RS0030 // A host program reads its own environment.
    var layered = AgentConfig.Read(parse.GetValue(configFile), given, Environment.GetEnvironmentVariable, warnings.Add, errors);
#pragma warning restore RS0030
    builder.Configuration.AddLayeredConfig(layered);
    var config = AgentConfig.From(layered, warnings.Add, errors);
    TlsPolicy? policy = null;
    if (errors.Count == 0 && config.TlsEnabled)
    {
        try
        {
            policy = TlsPolicy.Create(config.ToTlsOptions());
        }
        catch (DeterminedConfigurationException ex)
        {
            errors.AddRange(ex.Failures);
        }
    }

    // On SIGTERM the agent stops its tasks and reports to the master before it exits: the host waits for that, as the agent
    // did before it ran on the host (the default 30 s would cut it short and exit 1).
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeout.InfiniteTimeSpan);
    builder.Services.AddSingleton(config);
    builder.Services.AddSingleton(sp => new CertificateTrustResolver(policy ?? TlsPolicy.Default, sp.GetRequiredService<ILogger<CertificateTrustResolver>>()));
    builder.Services.AddSingleton(sp => new MasterHttpHandlerFactory(sp.GetRequiredService<CertificateTrustResolver>(), sp.GetRequiredService<ILogger<MasterHttpHandlerFactory>>()));
    builder.Services.AddSingleton(sp => new AgentRunner(config, sp.GetRequiredService<MasterHttpHandlerFactory>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("Determined.Agent")));
    builder.Services.AddSingleton<AgentService>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<AgentService>());
    using var host = builder.Build();
    var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Determined.Agent");
    foreach (var warning in warnings)
    {
        AgentLog.ConfigurationWarning(logger, warning);
    }

    if (errors.Count > 0)
    {
        foreach (var e in errors)
        {
            Console.Error.WriteLine("error: " + e);
        }

        return 1;
    }

    var agent = host.Services.GetRequiredService<AgentService>();
    await host.RunAsync(cancellationToken);
    return agent.ExitCode;
});

return await root.Parse(args).InvokeAsync();
