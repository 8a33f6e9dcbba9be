using System.Collections.Concurrent;

namespace Determined.Samples.Master.Agents;

/// <summary>
/// The agents connected now, by id: what the REST API lists and where tasks are launched. The websocket endpoint
/// (<see cref="AgentHub"/>) registers and removes them; a connected id is taken over only by the same client certificate.
/// </summary>
public sealed class AgentDirectory
{
    private readonly ConcurrentDictionary<string, AgentConnection> _agents = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Gets the connected agents, oldest registration first.</summary>
    public IEnumerable<AgentConnection> Connected => _agents.Values.OrderBy(a => a.RegisteredTime);

    /// <summary>The connected agent with this id, or null.</summary>
    public AgentConnection? Get(string id) => _agents.GetValueOrDefault(id);

    /// <summary>
    /// Registers <paramref name="agent"/> unless its id is connected with another client certificate (checked atomically
    /// with the registration: another certificate may have registered the id during this connection's handshake).
    /// </summary>
    public bool TryRegister(AgentConnection agent)
    {
        lock (_gate)
        {
            if (_agents.GetValueOrDefault(agent.Id) is { ClientThumbprint: { } held } && held != agent.ClientThumbprint)
            {
                return false;
            }

            _agents[agent.Id] = agent;
            return true;
        }
    }

    /// <summary>Removes this session of the agent (not a newer one that took its id over); true when it was removed.</summary>
    public bool Remove(AgentConnection agent)
    {
        lock (_gate)
        {
            return _agents.TryRemove(new KeyValuePair<string, AgentConnection>(agent.Id, agent));
        }
    }
}
