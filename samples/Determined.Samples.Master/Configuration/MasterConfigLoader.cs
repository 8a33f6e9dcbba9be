using System.Globalization;
using System.Net;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Determined.Samples.Master.Configuration;

/// <summary>
/// Reads master.yaml, DET_* environment variables and flags with Determined's precedence: flag &gt; env &gt; file &gt; default.
/// Unknown YAML keys are errors naming the key and the file. Booleans are strict.
/// </summary>
public static class MasterConfigLoader
{
    public const string DefaultConfigFile = "/etc/determined/master.yaml";

    /// <summary>Every scalar key the sample master knows (dotted YAML path).</summary>
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

    /// <summary>DET_ + upper-cased key with '.' and '-' replaced by '_'.</summary>
    public static string EnvName(string key) => "DET_" + key.ToUpperInvariant().Replace('.', '_').Replace('-', '_');

    public static MasterConfig Load(string? configFile, IReadOnlyDictionary<string, string> flags, Func<string, string?> env, Action<string> warn, List<string> errors)
    {
        var file = configFile ?? (env("DET_CONFIG_FILE") is { Length: > 0 } e ? e : null);
        var values = new Dictionary<string, (string Value, string Source)>(StringComparer.Ordinal);
        var users = new List<UserConfig>();
        if (file is null)
        {
            if (File.Exists(DefaultConfigFile))
            {
                ReadYaml(DefaultConfigFile, values, users, errors);
            }
            else
            {
                warn($"no configuration file at {DefaultConfigFile}; using flags, DET_* environment variables and defaults");
            }
        }
        else if (!File.Exists(file))
        {
            errors.Add($"the configuration file '{file}' does not exist. Fix: pass an existing file to --config-file (or DET_CONFIG_FILE).");
        }
        else
        {
            ReadYaml(file, values, users, errors);
        }

        foreach (var key in Keys)
        {
            if (env(EnvName(key)) is { Length: > 0 } value)
            {
                values[key] = (value, "environment variable " + EnvName(key));
            }

            if (flags.TryGetValue(key, out var flag))
            {
                values[key] = (flag, "flag --" + key.Replace('.', '-').Replace('_', '-'));
            }
        }

        string? Str(string key) => values.TryGetValue(key, out var v) ? v.Value : null;

        int? port = null;
        if (values.TryGetValue("port", out var p))
        {
            if (int.TryParse(p.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                port = parsed;
            }
            else
            {
                errors.Add($"port '{p.Value}' (from {p.Source}) is not a number. Fix: use 1-65535.");
            }
        }

        var listen = IPAddress.Any;
        if (values.TryGetValue("listen_address", out var l) && !IPAddress.TryParse(l.Value, out listen!))
        {
            errors.Add($"listen_address '{l.Value}' (from {l.Source}) is not an IP address. Fix: use e.g. 0.0.0.0 or 127.0.0.1.");
            listen = IPAddress.Any;
        }

        var timeout = TimeSpan.FromSeconds(10);
        if (values.TryGetValue("security.tls.handshake_timeout", out var t))
        {
            if (double.TryParse(t.Value.TrimEnd('s'), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                timeout = TimeSpan.FromSeconds(seconds);
            }
            else
            {
                errors.Add($"security.tls.handshake_timeout '{t.Value}' (from {t.Source}) is not a number of seconds. Fix: use e.g. 10s.");
            }
        }

        return new MasterConfig
        {
            Port = port,
            ListenAddress = listen,
            ClusterName = Str("cluster_name") ?? "sample-cluster",
            TlsCert = Str("security.tls.cert"),
            TlsKey = Str("security.tls.key"),
            HandshakeTimeout = timeout,
            RequireAuthentication = Bool(values, "resource_manager.require_authentication", errors),
            ClientCa = Str("resource_manager.client_ca"),
            Users = users,
        };
    }

    private static bool Bool(Dictionary<string, (string Value, string Source)> values, string key, List<string> errors)
    {
        if (!values.TryGetValue(key, out var v))
        {
            return false;
        }

        switch (v.Value.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "yes":
                return true;
            case "false" or "0" or "no":
                return false;
            default:
                errors.Add($"{key} '{v.Value}' (from {v.Source}) is not a boolean. Fix: use true or false.");
                return false;
        }
    }

    private static void ReadYaml(string file, Dictionary<string, (string, string)> values, List<UserConfig> users, List<string> errors)
    {
        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(file);
            yaml.Load(reader);
        }
        catch (Exception ex) when (ex is YamlException or IOException or UnauthorizedAccessException)
        {
            errors.Add($"the configuration file '{file}' cannot be read: {ex.Message}");
            return;
        }

        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return;
        }

        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            errors.Add($"the configuration file '{file}' must be a YAML mapping of keys.");
            return;
        }

        Walk(root, string.Empty, file, values, users, errors);
    }

    private static void Walk(YamlMappingNode node, string prefix, string file, Dictionary<string, (string, string)> values, List<UserConfig> users, List<string> errors)
    {
        foreach (var (k, v) in node.Children)
        {
            var key = prefix + ((YamlScalarNode)k).Value;
            if (key == "users" && v is YamlSequenceNode list)
            {
                ReadUsers(list, file, users, errors);
            }
            else if (v is YamlMappingNode child && Keys.Any(known => known.StartsWith(key + ".", StringComparison.Ordinal)))
            {
                Walk(child, key + ".", file, values, users, errors);
            }
            else if (v is YamlScalarNode scalar && Keys.Contains(key))
            {
                values[key] = (scalar.Value ?? string.Empty, "file " + file);
            }
            else
            {
                errors.Add($"unknown configuration key '{key}' in '{file}' (line {k.Start.Line}). Fix: remove it; known keys: {string.Join(", ", Keys)}, users.");
            }
        }
    }

    private static void ReadUsers(YamlSequenceNode list, string file, List<UserConfig> users, List<string> errors)
    {
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
                var key = ((YamlScalarNode)k).Value;
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
