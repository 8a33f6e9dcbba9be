namespace Determined.Sdk;

/// <summary>
/// Creates the <see cref="DeterminedClient"/> of a registered name: one app, several masters (a CLI, an agent or a
/// service that talks to two clusters), each with its own options, trust, certificate-store entry and token.
/// </summary>
/// <remarks>
/// Register each with <c>services.AddDeterminedClient("name", …)</c>; a named client is also a keyed service
/// (<c>[FromKeyedServices("name")] DeterminedClient</c>). The default client (<c>AddDeterminedClient()</c>) has the name
/// <see cref="string.Empty"/>. Clients are cheap: their handlers are shared per name and long-lived.
/// </remarks>
public interface IDeterminedClientFactory
{
    /// <summary>Creates a client for a registered name.</summary>
    /// <param name="name">The name given to <c>AddDeterminedClient</c>; <see cref="string.Empty"/> for the default client.</param>
    /// <returns>A client; disposing it does not affect the shared handler.</returns>
    /// <exception cref="InvalidOperationException">No client of that name is registered.</exception>
    /// <exception cref="DeterminedConfigurationException">The client's settings are invalid; every problem is listed with its fix.</exception>
    DeterminedClient CreateClient(string name);
}
