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
    ];

    public static MasterConfig Load(string? configFile, IReadOnlyDictionary<string, string> flags, Func<string, string?> env, Action<string> warn, List<string> errors)
    {
        var users = new List<UserConfig>();
        var config = LayeredConfig.Load(configFile, DefaultConfigFile, Keys, Keys.ToHashSet(), flags, env, warn, errors, (key, node, file) =>
        {
            if (key != "users")
            {
                return false;
            }

            ReadUsers(node, file, users, errors);
            return true;
        });

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
            RequireAuthentication = config.GetBoolean("resource_manager.require_authentication") ?? false,
            ClientCa = config.GetString("resource_manager.client_ca"),
            Users = users,
        };
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
