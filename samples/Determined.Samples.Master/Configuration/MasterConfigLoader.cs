using System.Net;
using Determined.Samples.Common.Configuration;
using YamlDotNet.RepresentationModel;

namespace Determined.Samples.Master.Configuration;

/// <summary>Reads the master's configuration: master.yaml, DET_* variables and flags (flag &gt; env &gt; file &gt; default).</summary>
public static class MasterConfigLoader
{
    public const string DefaultConfigFile = "/etc/determined/master.yaml";

    /// <summary>Every scalar key the sample master knows (dotted YAML path); each also has an env var and a flag.</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "port",
        "listen_address",
        "cluster_name",
        "security.tls.cert",
        "security.tls.key",
        "security.tls.handshake_timeout",
        "resource_manager.require_authentication",
        "resource_manager.client_ca",
        "security.token.default_lifespan_days",
        "resource_manager.agent_certificate_names",
        "limits.max_connections",
        "limits.max_connections_per_address",
        "limits.idle_timeout",
        "limits.request_headers_timeout",
        "limits.max_agent_connections",
        "limits.max_log_entries_per_request",
    ];

    /// <summary>
    /// Upstream master.yaml keys (master/internal/config) the sample master does not implement: a file written for an
    /// upstream master loads, and one log line names what was ignored. Keys upstream does not know stay errors.
    /// </summary>
    private static readonly HashSet<string> s_upstreamIgnored =
    [
        "config_file", "log", "db", "tensorboard_timeout", "notebook_timeout", "checkpoint_storage", "task_container_defaults",
        "root", "telemetry", "enable_cors", "launch_error", "ui_customization", "logging", "retention_policy", "observability",
        "cache", "webhooks", "feature_switches", "reserved_ports", "__internal", "scim", "saml", "oidc", "det_cloud",
        "integrations", "resource_pools", "additional_resource_managers", "scheduler", "provisioner",
        "security.default_task", "security.ssh", "security.authz", "security.token.max_lifespan_days", "security.initial_user_password",
        "resource_manager.type", "resource_manager.name", "resource_manager.metadata", "resource_manager.scheduler",
        "resource_manager.cluster_name", "resource_manager.default_aux_resource_pool", "resource_manager.default_compute_resource_pool",
        "resource_manager.no_default_resource_pools", "resource_manager.default_cpu_resource_pool", "resource_manager.default_gpu_resource_pool",
        "resource_manager.default_namespace", "resource_manager.max_slots_per_pod", "resource_manager.master_service_name",
        "resource_manager.leave_kubernetes_resources", "resource_manager.default_scheduler", "resource_manager.slot_type",
        "resource_manager.slot_resource_requests", "resource_manager.fluent", "resource_manager.kubeconfig_path",
        "resource_manager.determined_master_scheme", "resource_manager.determined_master_host", "resource_manager.determined_master_port",
        "resource_manager.internal_task_gateway",
    ];

    public static MasterConfig Load(string? configFile, IReadOnlyDictionary<string, string> flags, Func<string, string?> env, Action<string> warn, List<string> errors)
    {
        var users = new List<UserConfig>();
        var ignored = new List<string>();
        var config = LayeredConfig.Load(configFile, DefaultConfigFile, Keys, Keys.ToHashSet(), flags, env, warn, errors, (key, node, file) =>
        {
            if (key == "users")
            {
                ReadUsers(node, file, users, errors);
                return true;
            }

            if (!s_upstreamIgnored.Contains(key))
            {
                return false;
            }

            if (key == "resource_manager.type" && node is YamlScalarNode { Value: { } type } && type != "agent")
            {
                ignored.Add($"{key} ({type}: the sample master is always an agent resource manager)");
            }
            else
            {
                ignored.Add(key);
            }

            return true;
        });
        if (ignored.Count > 0)
        {
            warn($"info: upstream configuration keys the sample master does not implement were ignored: {string.Join(", ", ignored)}.");
        }

        var listen = IPAddress.Any;
        if (config.GetString("listen_address") is { } l && !IPAddress.TryParse(l, out listen!))
        {
            errors.Add($"listen_address '{l}' (from {config.Source("listen_address")}) is not an IP address. Fix: use e.g. 0.0.0.0 or 127.0.0.1.");
            listen = IPAddress.Any;
        }

        return new MasterConfig
        {
            Port = config.GetInt32("port", 0, 65535),
            ListenAddress = listen,
            ClusterName = config.GetString("cluster_name") ?? "sample-cluster",
            TlsCert = config.GetString("security.tls.cert"),
            TlsKey = config.GetString("security.tls.key"),
            HandshakeTimeout = config.GetSeconds("security.tls.handshake_timeout") ?? TimeSpan.FromSeconds(10),
            MaxConnections = config.GetInt32("limits.max_connections", 1, 1_000_000) ?? 2048,
            MaxConnectionsPerAddress = config.GetInt32("limits.max_connections_per_address", 1, 1_000_000) ?? 256,
            IdleTimeout = config.GetSeconds("limits.idle_timeout") ?? TimeSpan.FromSeconds(30),
            RequestHeadersTimeout = config.GetSeconds("limits.request_headers_timeout") ?? TimeSpan.FromSeconds(10),
            MaxAgentConnections = config.GetInt32("limits.max_agent_connections", 1, 1_000_000) ?? 1024,
            MaxLogEntriesPerRequest = config.GetInt32("limits.max_log_entries_per_request", 1, 10_000_000) ?? 10_000,
            RequireAuthentication = config.GetBoolean("resource_manager.require_authentication") ?? false,
            ClientCa = config.GetString("resource_manager.client_ca"),
            TokenLifespanDays = config.GetInt32("security.token.default_lifespan_days", 1, 3650) ?? 30,
            AgentCertificateNames = ParseAgentNames(config.GetString("resource_manager.agent_certificate_names"), errors),
            Users = users,
        };
    }

    /// <summary>
    /// This sample's extension (not an upstream key): "agent-1=node-a.example.com;agent-2=node-b" lets an agent id register
    /// with a client certificate whose CN or DNS SAN is one of the names given for it, besides the id itself.
    /// </summary>
    private static Dictionary<string, HashSet<string>> ParseAgentNames(string? text, List<string> errors)
    {
        var map = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var entry in (text ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                errors.Add($"resource_manager.agent_certificate_names: '{entry}' is not id=name. Fix: write agent-1=node-a.example.com;agent-2=node-b (names separated by ','), or leave it unset (the id itself must then be the certificate's CN or a DNS SAN).");
                continue;
            }

            if (!map.TryGetValue(parts[0], out var names))
            {
                names = new HashSet<string>(StringComparer.Ordinal);
                map[parts[0]] = names;
            }

            names.UnionWith(parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        return map;
    }

    private static void ReadUsers(YamlNode node, string file, List<UserConfig> users, List<string> errors)
    {
        if (node is not YamlSequenceNode list)
        {
            errors.Add($"'users' in '{file}' must be a list of mappings with username, admin, password_env.");
            return;
        }

        foreach (var item in list)
        {
            if (item is not YamlMappingNode map)
            {
                errors.Add($"'users' in '{file}' must be a list of mappings with username, admin, password_env.");
                continue;
            }

            string? name = null, passwordEnv = null;
            var admin = false;
            foreach (var (k, v) in map.Children)
            {
                var key = (k as YamlScalarNode)?.Value;
                var value = (v as YamlScalarNode)?.Value;
                switch (key)
                {
                    case "username": name = value; break;
                    case "admin": admin = value is "true" or "True"; break;
                    case "password_env": passwordEnv = value; break;
                    case "password":
                        errors.Add($"'users.password' in '{file}' is refused: passwords never go in configuration text. Fix: use password_env: <NAME OF AN ENVIRONMENT VARIABLE>.");
                        break;
                    default:
                        errors.Add($"unknown configuration key 'users.{key}' in '{file}' (line {k.Start.Line}). Fix: use username, admin, password_env.");
                        break;
                }
            }

            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add($"a user in '{file}' has no username.");
            }
            else
            {
                users.Add(new UserConfig(name, admin, passwordEnv));
            }
        }
    }
}
