using System.Net;
using System.Net.WebSockets;
using System.Text;
using Determined.Samples.Common.Protocol;
using Determined.Samples.Master.Configuration;
using Determined.Samples.Master.Tasks;

namespace Determined.Samples.Master.Agents;

/// <summary>
/// The /agents websocket: query validation, mTLS check, MasterSetAgentOptions first, AgentStarted reply, then state
/// and logs, which go to the <see cref="TaskRegistry"/>. Connected agents are kept in the <see cref="AgentDirectory"/>.
/// </summary>
/// <param name="agents">Where connected agents are registered.</param>
/// <param name="tasks">Receives the agents' task state changes and logs.</param>
/// <param name="config">resource_manager.require_authentication and resource_manager.agent_certificate_names.</param>
/// <param name="identity">What MasterSetAgentOptions tells each agent about the master.</param>
/// <param name="logger">Registrations, refusals and disconnections.</param>
public sealed partial class AgentHub(AgentDirectory agents, TaskRegistry tasks, MasterConfig config, MasterIdentity identity, ILogger<AgentHub> logger)
{
    /// <summary>The largest message an agent may send (log lines, state changes: a few KiB); a bigger one closes the connection.</summary>
    private const int MaxMessageBytes = 256 * 1024;

    /// <summary>Serves one /agents request: refuses it with a reason, or runs the agent's session until it ends.</summary>
    public async Task HandleAsync(HttpContext context)
    {
        var requireAuthentication = config.RequireAuthentication;
        var query = context.Request.Query;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Reject(context, 400, AgentRefusal.BadRequest, "the /agents endpoint needs a websocket upgrade");
            return;
        }

        var id = query["id"].ToString();
        var logId = SafeText.LogField(id); // what a peer sends before it is authenticated reaches the log only escaped
        if (string.IsNullOrWhiteSpace(id))
        {
            await Reject(context, 400, AgentRefusal.BadRequest, "the agent id (id=...) is missing");
            return;
        }

        if (query["reconnect"].ToString() is not ("true" or "false"))
        {
            await Reject(context, 400, AgentRefusal.BadRequest, "reconnect must be true or false");
            return;
        }

        var certificate = context.Connection.ClientCertificate;
        if (requireAuthentication && certificate is null)
        {
            RefusedWithoutCertificate(logger, logId, context.Connection.RemoteIpAddress);
            await Reject(context, 403, AgentRefusal.ClientCertificateRequired, "a client certificate is required (resource_manager.require_authentication); configure the agent's security.tls.client_cert and security.tls.client_key");
            return;
        }

        // The id must be a name of the certificate, or one of the names resource_manager.agent_certificate_names allows for it.
        if (requireAuthentication && certificate is not null
            && AgentIdentity.CertificateNames(certificate) is var names
            && !names.Any(n => n == id || (config.AgentCertificateNames.TryGetValue(id, out var allowed) && allowed.Contains(n))))
        {
            RefusedIdNotCertificateName(logger, logId, context.Connection.RemoteIpAddress, certificate.Subject, string.Join(", ", names));
            await Reject(context, 403, AgentRefusal.IdNotCertificateName, $"the agent id is not a name of its client certificate ({string.Join(", ", names)}); start the agent with --agent-id set to its certificate's CN, or issue it a certificate for that id");
            return;
        }

        // A connected id is taken: only the same certificate may take over the session (a reconnect); without client
        // certificates there is no identity to compare and the newer connection wins, as upstream's reconnect does.
        if (agents.Get(id) is { } existing && existing.ClientThumbprint is not null && existing.ClientThumbprint != certificate?.Thumbprint)
        {
            RefusedIdHeld(logger, logId, context.Connection.RemoteIpAddress, existing.ClientCertificate, certificate?.Subject ?? "none");
            await Reject(context, 409, AgentRefusal.IdHeldByAnotherCertificate, "an agent with this id is already connected with another client certificate");
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var ct = context.RequestAborted;
        AgentStarted? started;
        try
        {
            await SendRaw(socket, new MasterMessage { MasterSetAgentOptions = SetupMessage() }, ct);
            using var first = CancellationTokenSource.CreateLinkedTokenSource(ct);
            first.CancelAfter(TimeSpan.FromSeconds(30));
            started = ProtocolJson.ParseAgent(await WebSocketText.ReceiveAsync(socket, MaxMessageBytes, first.Token) ?? string.Empty)?.AgentStarted;
            if (started is null)
            {
                NoAgentStarted(logger, logId);
                await socket.CloseAsync(WebSocketCloseStatus.PolicyViolation, "expected AgentStarted", CancellationToken.None);
                return;
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The peer went away (or stalled) during the registration handshake: one line, no stack trace.
            LeftBeforeRegistering(logger, logId, context.Connection.RemoteIpAddress, ex.Message);
            return;
        }

        var agent = new AgentConnection(id, query["hostname"].ToString(), query["resource_pool"].ToString() is { Length: > 0 } pool ? pool : "default", query["version"].ToString(), socket, certificate?.Subject, certificate?.Thumbprint)
        {
            // What an agent says about its devices is hostile input too: no null entries or names, one entry per id.
            Devices = [.. (started.Devices ?? []).OfType<Device>()
                .Select(d => new Device { Id = d.Id, Brand = d.Brand ?? string.Empty, Uuid = d.Uuid ?? string.Empty, Type = d.Type ?? string.Empty })
                .DistinctBy(d => d.Id)
                .Take(1024)],
            Addresses = context.Connection.RemoteIpAddress is { } remote ? [remote.ToString()] : [],
        };

        // The takeover check again, atomically with the registration: another certificate may have registered the id
        // while this connection was in its handshake.
        if (!agents.TryRegister(agent))
        {
            RefusedIdTakenDuringHandshake(logger, logId, context.Connection.RemoteIpAddress);
            await socket.CloseAsync(WebSocketCloseStatus.PolicyViolation, "the agent id is connected with another certificate", CancellationToken.None);
            return;
        }

        Registered(logger, logId, SafeText.LogField(agent.Hostname), SafeText.LogField(agent.ResourcePool), query["reconnect"].ToString(), certificate?.Subject ?? "none");
        try
        {
            while (await WebSocketText.ReceiveAsync(socket, MaxMessageBytes, ct) is { } text)
            {
                var message = ProtocolJson.ParseAgent(text);
                if (message?.ContainerStateChanged is { } change)
                {
                    tasks.OnStateChanged(id, change);
                }
                else if (message?.ContainerLog is { } log)
                {
                    tasks.OnLog(id, log);
                }
                else if (message?.ContainerStatsRecord is not null)
                {
                    // Task statistics: the sample keeps none.
                }
                else if (message is null)
                {
                    MalformedMessage(logger, logId);
                }
                else
                {
                    UnknownMessage(logger, logId);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            ConnectionEnded(logger, logId, ex.Message);
        }
        finally
        {
            if (agents.Remove(agent))
            {
                // Its tasks are orphaned: their credentials end now, not in 30 days.
                tasks.OnAgentGone(id);
            }

            Disconnected(logger, logId);
        }
    }

    /// <summary>
    /// Refuses the upgrade with a status, a reason code in <see cref="AgentRefusal.Header"/> (a websocket client sees the
    /// headers of a refused upgrade, not its body) and a sentence in the body for other clients.
    /// </summary>
    private static async Task Reject(HttpContext context, int status, string reason, string message)
    {
        context.Response.StatusCode = status;
        context.Response.Headers[AgentRefusal.Header] = reason;
        await context.Response.WriteAsync(message);
    }

    private static Task SendRaw(WebSocket socket, MasterMessage message, CancellationToken ct) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(ProtocolJson.Serialize(message)), WebSocketMessageType.Text, true, ct);

    /// <summary>The first message of every session: who the master is.</summary>
    private MasterSetAgentOptions SetupMessage() => new()
    {
        MasterInfo = new MasterInfoMessage { Version = identity.Version, MasterId = identity.MasterId, ClusterId = identity.ClusterId, ClusterName = identity.ClusterName },
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused agent {AgentId} from {Remote}: resource_manager.require_authentication is on and it sent no client certificate")]
    private static partial void RefusedWithoutCertificate(ILogger logger, string agentId, IPAddress? remote);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused agent {AgentId} from {Remote}: its client certificate '{Certificate}' names {Names}, not that id")]
    private static partial void RefusedIdNotCertificateName(ILogger logger, string agentId, IPAddress? remote, string certificate, string names);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused agent {AgentId} from {Remote}: the id is connected with the client certificate '{Connected}', and this connection presents '{Presented}'")]
    private static partial void RefusedIdHeld(ILogger logger, string agentId, IPAddress? remote, string? connected, string presented);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused agent {AgentId} from {Remote}: another client certificate registered the id during its handshake")]
    private static partial void RefusedIdTakenDuringHandshake(ILogger logger, string agentId, IPAddress? remote);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Agent {AgentId} did not answer with AgentStarted; closing")]
    private static partial void NoAgentStarted(ILogger logger, string agentId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {AgentId} from {Remote} left before registering: {Reason}")]
    private static partial void LeftBeforeRegistering(ILogger logger, string agentId, IPAddress? remote, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {AgentId} registered ({Hostname}, pool {Pool}, reconnect={Reconnect}, client certificate {Certificate})")]
    private static partial void Registered(ILogger logger, string agentId, string hostname, string pool, string reconnect, string certificate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Agent {AgentId} sent a malformed message; ignored")]
    private static partial void MalformedMessage(ILogger logger, string agentId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Agent {AgentId} sent a message of no kind this master knows; ignored")]
    private static partial void UnknownMessage(ILogger logger, string agentId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {AgentId} connection ended: {Reason}")]
    private static partial void ConnectionEnded(ILogger logger, string agentId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {AgentId} disconnected")]
    private static partial void Disconnected(ILogger logger, string agentId);
}
