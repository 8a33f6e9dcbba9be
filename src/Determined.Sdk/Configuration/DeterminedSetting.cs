namespace Determined.Sdk;

/// <summary>Where an effective setting came from.</summary>
public enum SettingOrigin
{
    /// <summary>The built-in default.</summary>
    Default,

    /// <summary>Set in code or bound from configuration (<see cref="DeterminedClientOptions"/>).</summary>
    Options,

    /// <summary>An <see cref="Microsoft.Extensions.Configuration.IConfiguration"/> key.</summary>
    Configuration,

    /// <summary>An environment variable.</summary>
    Environment,

    /// <summary>A store of Determined's CLI (<c>certs.json</c>, <c>auth.json</c>).</summary>
    Store,
}

/// <summary>One effective setting, its value (secrets shown only as <c>(set)</c>) and where it came from.</summary>
/// <param name="Name">The setting, e.g. <c>Tls.MasterCertificateFile</c>.</param>
/// <param name="Value">The value, or <c>(set)</c> for secrets, or <see langword="null"/> when unset.</param>
/// <param name="Origin">The kind of source.</param>
/// <param name="Location">Where exactly: a variable name, configuration key, option or file path.</param>
public sealed record DeterminedSetting(string Name, string? Value, SettingOrigin Origin, string Location)
{
    /// <inheritdoc />
    public override string ToString() => $"{Name} = {Value ?? "(unset)"}  [{Origin}: {Location}]";
}
