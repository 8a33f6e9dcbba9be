using Determined.Samples.Common.Configuration;
using Determined.Security;

namespace Determined.Samples.Agent.Configuration;

/// <summary>The agent's configuration (upstream's agent.yaml keys) after flags, env, file and defaults.</summary>
public sealed record AgentConfig
{
    public const string DefaultConfigFile = "/etc/determined/agent.yaml";
    public const string DefaultCertPath = "/run/determined/etc/ssl/master.crt";

    /// <summary>Scalar keys; client_cert/client_key are YAML (and flag) only, as upstream.</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "master_host",
        "master_port",
        "agent_id",
        "resource_pool",
        "container_master_host",
        "container_master_port",
        "agent_reconnect_attempts",
        "agent_reconnect_backoff",
        "cert_path",
        "security.tls.enabled",
        "security.tls.skip_verify",
        "security.tls.master_cert",
        "security.tls.master_cert_name",
        "security.tls.client_cert",
        "security.tls.client_key",
        "security.tls.client_key_password_file",
    ];

    public static readonly IReadOnlySet<string> EnvKeys = Keys.Where(k => k is not ("security.tls.client_cert" or "security.tls.client_key" or "security.tls.client_key_password_file")).ToHashSet();

    public required string MasterHost { get; init; }
    public int? MasterPort { get; init; }
    public required string AgentId { get; init; }
    public string ResourcePool { get; init; } = "default";
    public string? ContainerMasterHost { get; init; }
    public int? ContainerMasterPort { get; init; }
    public int ReconnectAttempts { get; init; } = 5;
    public TimeSpan ReconnectBackoff { get; init; } = TimeSpan.FromSeconds(5);
    public string CertPath { get; init; } = DefaultCertPath;
    public bool TlsEnabled { get; init; }
    public bool SkipVerify { get; init; }
    public string? MasterCert { get; init; }
    public string? MasterCertName { get; init; }
    public string? ClientCert { get; init; }
    public string? ClientKey { get; init; }
    public string? ClientKeyPasswordFile { get; init; }

    /// <summary>Unset port: 443 with TLS, 80 without (not 8443/8080), as upstream.</summary>
    public int EffectivePort => MasterPort ?? (TlsEnabled ? 443 : 80);

    public Uri MasterUri => new UriBuilder(TlsEnabled ? "https" : "http", MasterHost, EffectivePort).Uri;

    /// <summary>The agent's trust: only master_cert (PinnedOnly) when given, name override, client identity.</summary>
    public TlsOptions ToTlsOptions() => new()
    {
        MasterCertificateFile = MasterCert,
        TrustMode = MasterCert is null ? MasterTrustMode.PinnedAdded : MasterTrustMode.PinnedOnly,
        MasterCertificateName = MasterCertName,
        DangerousSkipVerification = SkipVerify,
        ClientCertificateFile = ClientCert,
        ClientKeyFile = ClientKey,
        ClientCertificatePasswordFile = ClientKeyPasswordFile,
    };

    /// <summary>Reads and checks the agent's configuration; every problem is added to <paramref name="errors"/>.</summary>
    public static AgentConfig Load(string? configFile, IReadOnlyDictionary<string, string> flags, Func<string, string?> env, Action<string> warn, List<string> errors) =>
        From(Read(configFile, flags, env, warn, errors), warn, errors);

    /// <summary>The agent's keys from the YAML file (or the default file), DET_* variables and flags, by precedence, not yet typed.</summary>
    public static LayeredConfig Read(string? configFile, IReadOnlyDictionary<string, string> flags, Func<string, string?> env, Action<string> warn, List<string> errors) =>
        LayeredConfig.Load(configFile, DefaultConfigFile, Keys, EnvKeys, flags, env, warn, errors);

    /// <summary>The typed configuration from <paramref name="c"/>; a value of the wrong type is an error naming where it came from.</summary>
    public static AgentConfig From(LayeredConfig c, Action<string> warn, List<string> errors)
    {
        var host = c.GetString("master_host");
        if (host is null)
        {
            errors.Add("master host must be provided (master_host / DET_MASTER_HOST / --master-host).");
        }

        var config = new AgentConfig
        {
            MasterHost = host ?? "localhost",
            MasterPort = c.GetInt32("master_port", 1, 65535),
            AgentId = c.GetString("agent_id") ?? System.Net.Dns.GetHostName(),
            ResourcePool = c.GetString("resource_pool") ?? "default",
            ContainerMasterHost = c.GetString("container_master_host"),
            ContainerMasterPort = c.GetInt32("container_master_port", 1, 65535),
            ReconnectAttempts = c.GetInt32("agent_reconnect_attempts", 0, 1000) ?? 5,
            ReconnectBackoff = c.GetSeconds("agent_reconnect_backoff") ?? TimeSpan.FromSeconds(5),
            CertPath = c.GetString("cert_path") ?? DefaultCertPath,
            TlsEnabled = c.GetBoolean("security.tls.enabled") ?? false,
            SkipVerify = c.GetBoolean("security.tls.skip_verify") ?? false,
            MasterCert = c.GetString("security.tls.master_cert"),
            MasterCertName = c.GetString("security.tls.master_cert_name"),
            ClientCert = c.GetString("security.tls.client_cert"),
            ClientKey = c.GetString("security.tls.client_key"),
            ClientKeyPasswordFile = c.GetString("security.tls.client_key_password_file"),
        };

        // A pinned file with skip-verify is refused by TlsPolicy (the SDK's one statement of that rule, naming these keys).
        if (!config.TlsEnabled && (config.MasterCert ?? config.MasterCertName ?? config.ClientCert ?? config.ClientKey) is not null)
        {
            warn("security.tls.* settings are ignored because security.tls.enabled is false");
        }

        return config;
    }
}
