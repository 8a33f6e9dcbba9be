using System.CommandLine;
using Determined.Samples.Agent;
using Determined.Samples.Agent.Configuration;
using Determined.Samples.Common.Configuration;
using Determined.Samples.Common.Hosting;
using Determined;
using Determined.Security;
using Microsoft.Extensions.Options;

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
    using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }));
    var logger = loggerFactory.CreateLogger("Determined.Agent");
    var given = flags.Where(f => parse.GetValue(f.Option) is not null).ToDictionary(f => f.Key, f => parse.GetValue(f.Option)!);
    var errors = new List<string>();
#pragma warning disable RS0030 // A host program reads its own environment.
    var config = AgentConfig.Load(parse.GetValue(configFile), given, Environment.GetEnvironmentVariable, w => logger.LogWarning("{Warning}", w), errors);
#pragma warning restore RS0030
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

    if (errors.Count > 0)
    {
        foreach (var e in errors)
        {
            Console.Error.WriteLine("error: " + e);
        }

        return 1;
    }

    var resolver = new CertificateTrustResolver(policy ?? TlsPolicy.Default, loggerFactory.CreateLogger<CertificateTrustResolver>());
    var factory = new MasterHttpHandlerFactory(resolver, loggerFactory.CreateLogger<MasterHttpHandlerFactory>());
    using var stopping = new ShutdownSignals(cancellationToken);
    return await new AgentRunner(config, factory, logger).RunAsync(stopping.Token);
});

return await root.Parse(args).InvokeAsync();
