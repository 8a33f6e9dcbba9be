using Microsoft.Extensions.Configuration;

namespace Determined.Samples.Common.Configuration;

/// <summary>
/// Offers a <see cref="LayeredConfig"/> to <see cref="IConfiguration"/> under upstream's keys, a ':' for each '.' (e.g.
/// <c>security:tls:enabled</c>). The values are already resolved (flag &gt; env &gt; file) and checked by
/// <see cref="LayeredConfig"/>, which keeps where each came from for its error messages; <see cref="IConfiguration"/> does not.
/// </summary>
/// <param name="config">The loaded configuration.</param>
public sealed class LayeredConfigurationSource(LayeredConfig config) : IConfigurationSource
{
    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new Provider(config);

    private sealed class Provider(LayeredConfig config) : ConfigurationProvider
    {
        public override void Load() =>
            Data = config.Values.ToDictionary(v => ConfigurationPath.Combine(v.Key.Split('.')), v => (string?)v.Value, StringComparer.OrdinalIgnoreCase);
    }
}

/// <summary>Adds a <see cref="LayeredConfig"/> to a configuration builder.</summary>
public static class LayeredConfigurationExtensions
{
    /// <summary>Adds <paramref name="config"/> as a source of <paramref name="builder"/> (see <see cref="LayeredConfigurationSource"/>).</summary>
    public static IConfigurationBuilder AddLayeredConfig(this IConfigurationBuilder builder, LayeredConfig config) =>
        builder.Add(new LayeredConfigurationSource(config));
}
