using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Determined.Samples.Common.Configuration;

/// <summary>
/// Determined-style configuration: a YAML file, DET_* environment variables (DET_ + upper-cased key with '.' and '-'
/// as '_') and flags, with precedence flag &gt; env &gt; file &gt; default. Unknown YAML keys are errors naming the key and
/// the file; booleans and numbers are parsed strictly, with the source of the bad value in the message.
/// </summary>
public sealed class LayeredConfig
{
    private readonly Dictionary<string, (string Value, string Source)> _values = new(StringComparer.Ordinal);
    private readonly List<string> _errors;

    private LayeredConfig(List<string> errors) => _errors = errors;

    public static string EnvName(string key) => "DET_" + key.ToUpperInvariant().Replace('.', '_').Replace('-', '_');

    public static string FlagName(string key) => "--" + key.Replace('.', '-').Replace('_', '-');

    /// <param name="file">The YAML file given explicitly (flag or DET_CONFIG_FILE), or null.</param>
    /// <param name="defaultFile">The default file: read when present, a warning when missing.</param>
    /// <param name="keys">Every scalar key (dotted YAML path).</param>
    /// <param name="envKeys">The keys that may come from the environment.</param>
    /// <param name="flags">Flag values by key.</param>
    /// <param name="env">Reads environment variables.</param>
    /// <param name="warn">Receives warnings.</param>
    /// <param name="errors">Receives every error.</param>
    /// <param name="structured">Reads a non-scalar top-level key (e.g. a list); returns false when the key is unknown.</param>
    public static LayeredConfig Load(
        string? file,
        string defaultFile,
        IReadOnlyList<string> keys,
        IReadOnlyCollection<string> envKeys,
        IReadOnlyDictionary<string, string> flags,
        Func<string, string?> env,
        Action<string> warn,
        List<string> errors,
        Func<string, YamlNode, string, bool>? structured = null)
    {
        var config = new LayeredConfig(errors);
        var path = file ?? (env("DET_CONFIG_FILE") is { Length: > 0 } e ? e : null);
        if (path is null)
        {
            if (File.Exists(defaultFile))
            {
                config.ReadYaml(defaultFile, keys, structured);
            }
            else
            {
                warn($"no configuration file at {defaultFile}; using flags, DET_* environment variables and defaults");
            }
        }
        else if (!File.Exists(path))
        {
            errors.Add($"the configuration file '{path}' does not exist. Fix: pass an existing file to --config-file (or DET_CONFIG_FILE).");
        }
        else
        {
            config.ReadYaml(path, keys, structured);
        }

        foreach (var key in keys)
        {
            if (envKeys.Contains(key) && env(EnvName(key)) is { Length: > 0 } value)
            {
                config._values[key] = (value, "environment variable " + EnvName(key));
            }

            if (flags.TryGetValue(key, out var flag))
            {
                config._values[key] = (flag, "flag " + FlagName(key));
            }
        }

        return config;
    }

    /// <summary>Gets every value that was set, by key (dotted YAML path), after precedence: what <see cref="LayeredConfigurationSource"/> offers.</summary>
    public IEnumerable<KeyValuePair<string, string>> Values => _values.Select(v => KeyValuePair.Create(v.Key, v.Value.Value));

    public string? GetString(string key) => _values.TryGetValue(key, out var v) && v.Value.Length > 0 ? v.Value : null;

    public string? Source(string key) => _values.TryGetValue(key, out var v) ? v.Source : null;

    public int? GetInt32(string key, int min, int max)
    {
        if (!_values.TryGetValue(key, out var v))
        {
            return null;
        }

        if (int.TryParse(v.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max)
        {
            return n;
        }

        _errors.Add($"{key} '{v.Value}' (from {v.Source}) is not a whole number from {min} to {max}.");
        return null;
    }

    /// <summary>Seconds, as a number or with an 's' suffix (e.g. 5 or 5s).</summary>
    public TimeSpan? GetSeconds(string key)
    {
        if (!_values.TryGetValue(key, out var v))
        {
            return null;
        }

        if (double.TryParse(v.Value.Trim().TrimEnd('s'), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 0)
        {
            return TimeSpan.FromSeconds(s);
        }

        _errors.Add($"{key} '{v.Value}' (from {v.Source}) is not a number of seconds. Fix: use e.g. 5 or 5s.");
        return null;
    }

    /// <summary>Strict booleans: true/false/1/0/yes/no; anything else ('maybe') is an error.</summary>
    public bool? GetBoolean(string key)
    {
        if (!_values.TryGetValue(key, out var v))
        {
            return null;
        }

        switch (v.Value.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "yes":
                return true;
            case "false" or "0" or "no":
                return false;
            default:
                _errors.Add($"{key} '{v.Value}' (from {v.Source}) is not a boolean. Fix: use true or false.");
                return null;
        }
    }

    private void ReadYaml(string file, IReadOnlyList<string> keys, Func<string, YamlNode, string, bool>? structured)
    {
        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(file);
            yaml.Load(reader);
        }
        catch (Exception ex) when (ex is YamlException or IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            // YamlDotNet also throws InvalidOperationException on some malformed input (found by the fuzz test).
            _errors.Add($"the configuration file '{file}' cannot be read as YAML: {ex.Message}");
            return;
        }

        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return;
        }

        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            _errors.Add($"the configuration file '{file}' must be a YAML mapping of keys.");
            return;
        }

        Walk(root, string.Empty, file, keys, structured);
    }

    private void Walk(YamlMappingNode node, string prefix, string file, IReadOnlyList<string> keys, Func<string, YamlNode, string, bool>? structured)
    {
        foreach (var (k, v) in node.Children)
        {
            var key = prefix + ((k as YamlScalarNode)?.Value ?? "?");
            if (v is YamlMappingNode child && keys.Any(known => known.StartsWith(key + ".", StringComparison.Ordinal)))
            {
                Walk(child, key + ".", file, keys, structured);
            }
            else if (v is YamlScalarNode scalar && keys.Contains(key))
            {
                _values[key] = (scalar.Value ?? string.Empty, "file " + file);
            }
            else if (structured is null || !structured(key, v, file))
            {
                _errors.Add($"unknown configuration key '{key}' in '{file}' (line {k.Start.Line}). Fix: remove it; known keys: {string.Join(", ", keys)}.");
            }
        }
    }
}
