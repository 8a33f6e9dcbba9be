using System.Net.WebSockets;
using System.Text;
using Determined.Samples.Common.Protocol;

namespace Determined.Samples.Master.Agents;

/// <summary>A registered agent's websocket session: what it said about itself at registration, and a serialized sender.</summary>
public sealed class AgentConnection(string id, string hostname, string resourcePool, string version, WebSocket socket, string? clientCertificate, string? clientThumbprint = null)
{
    private readonly SemaphoreSlim _send = new(1, 1);

    public string Id { get; } = id;
    public string Hostname { get; } = hostname;
    public string ResourcePool { get; } = resourcePool;
    public string Version { get; } = version;
    public string? ClientCertificate { get; } = clientCertificate;
    public string? ClientThumbprint { get; } = clientThumbprint;
    public DateTimeOffset RegisteredTime { get; } = DateTimeOffset.UtcNow;
    public List<Device> Devices { get; set; } = [];
    public List<string> Addresses { get; init; } = [];
    public WebSocket Socket { get; } = socket;

    public async Task SendAsync(MasterMessage message, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(ProtocolJson.Serialize(message));
        await _send.WaitAsync(cancellationToken);
        try
        {
            await Socket.SendAsync(bytes, WebSocketMessageType.Text, true, cancellationToken);
        }
        finally
        {
            _send.Release();
        }
    }
}
