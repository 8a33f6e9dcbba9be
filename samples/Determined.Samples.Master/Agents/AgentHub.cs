using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Determined.Samples.Master.Tasks;
using Determined.Samples.Common.Protocol;

namespace Determined.Samples.Master.Agents;

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

/// <summary>The /agents websocket (REFERENCE.md §2): query validation, mTLS check, MasterSetAgentOptions first, AgentStarted reply, then state and logs.</summary>
public sealed class AgentHub(bool requireAuthentication, IReadOnlyDictionary<string, HashSet<string>> certificateNames, Func<MasterSetAgentOptions> setupMessage, ILogger<AgentHub> logger)
{
    /// <summary>The largest message an agent may send (log lines, state changes: a few KiB); a bigger one closes the connection.</summary>
    private const int MaxMessageBytes = 256 * 1024;
    private readonly ConcurrentDictionary<string, AgentConnection> _agents = new(StringComparer.Ordinal);

    public TaskRegistry? Tasks { get; set; }

    public IEnumerable<AgentConnection> Connected => _agents.Values.OrderBy(a => a.RegisteredTime);

    public AgentConnection? Get(string id) => _agents.GetValueOrDefault(id);

    public async Task HandleAsync(HttpContext context)
    {
        var query = context.Request.Query;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Reject(context, 400, AgentRefusal.BadRequest, "the /agents endpoint needs a websocket upgrade");
            return;
        }

        var id = query["id"].ToString();
        var logId = LogText(id); // what a peer sends before it is authenticated reaches the log only escaped
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
            logger.LogWarning("Refused agent {AgentId} from {Remote}: resource_manager.require_authentication is on and it sent no client certificate", logId, context.Connection.RemoteIpAddress);
            await Reject(context, 403, AgentRefusal.ClientCertificateRequired, "a client certificate is required (resource_manager.require_authentication); configure the agent's security.tls.client_cert and security.tls.client_key");
            return;
        }

        // The id must be a name of the certificate, or one of the names resource_manager.agent_certificate_names allows for it.
        if (requireAuthentication && certificate is not null
            && AgentIdentity.CertificateNames(certificate) is var names
            && !names.Any(n => n == id || (certificateNames.TryGetValue(id, out var allowed) && allowed.Contains(n))))
        {
            logger.LogWarning("Refused agent {AgentId} from {Remote}: its client certificate '{Certificate}' names {Names}, not that id", logId, context.Connection.RemoteIpAddress, certificate.Subject, string.Join(", ", names));
            await Reject(context, 403, AgentRefusal.IdNotCertificateName, $"the agent id is not a name of its client certificate ({string.Join(", ", names)}); start the agent with --agent-id set to its certificate's CN, or issue it a certificate for that id");
            return;
        }

        // A connected id is taken: only the same certificate may take over the session (a reconnect); without client
        // certificates there is no identity to compare and the newer connection wins, as upstream's reconnect does.
        if (_agents.GetValueOrDefault(id) is { } existing && existing.ClientThumbprint is not null && existing.ClientThumbprint != certificate?.Thumbprint)
        {
            logger.LogWarning("Refused agent {AgentId} from {Remote}: the id is connected with the client certificate '{Connected}', and this connection presents '{Presented}'", logId, context.Connection.RemoteIpAddress, existing.ClientCertificate, certificate?.Subject ?? "none");
            await Reject(context, 409, AgentRefusal.IdHeldByAnotherCertificate, "an agent with this id is already connected with another client certificate");
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var ct = context.RequestAborted;
        AgentStarted? started;
        try
        {
            await SendRaw(socket, new MasterMessage { MasterSetAgentOptions = setupMessage() }, ct);
            using var first = CancellationTokenSource.CreateLinkedTokenSource(ct);
            first.CancelAfter(TimeSpan.FromSeconds(30));
            started = ProtocolJson.ParseAgent(await WebSocketText.ReceiveAsync(socket, MaxMessageBytes, first.Token) ?? string.Empty)?.AgentStarted;
            if (started is null)
            {
                logger.LogWarning("Agent {AgentId} did not answer with AgentStarted; closing", logId);
                await socket.CloseAsync(WebSocketCloseStatus.PolicyViolation, "expected AgentStarted", CancellationToken.None);
                return;
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The peer went away (or stalled) during the registration handshake: one line, no stack trace.
            logger.LogInformation("Agent {AgentId} from {Remote} left before registering: {Reason}", logId, context.Connection.RemoteIpAddress, ex.Message);
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
        bool registered;
        lock (_agents)
        {
            registered = !(_agents.GetValueOrDefault(id) is { ClientThumbprint: { } held } && held != certificate?.Thumbprint);
            if (registered)
            {
                _agents[id] = agent;
            }
        }

        if (!registered)
        {
            logger.LogWarning("Refused agent {AgentId} from {Remote}: another client certificate registered the id during its handshake", logId, context.Connection.RemoteIpAddress);
            await socket.CloseAsync(WebSocketCloseStatus.PolicyViolation, "the agent id is connected with another certificate", CancellationToken.None);
            return;
        }

        logger.LogInformation("Agent {AgentId} registered ({Hostname}, pool {Pool}, reconnect={Reconnect}, client certificate {Certificate})",
            logId, LogText(agent.Hostname), LogText(agent.ResourcePool), query["reconnect"].ToString(), certificate?.Subject ?? "none");
        try
        {
            while (await WebSocketText.ReceiveAsync(socket, MaxMessageBytes, ct) is { } text)
            {
                var message = ProtocolJson.ParseAgent(text);
                if (message?.ContainerStateChanged is { } change)
                {
                    Tasks?.OnStateChanged(id, change);
                }
                else if (message?.ContainerLog is { } log)
                {
                    Tasks?.OnLog(id, log);
                }
                else if (message?.ContainerStatsRecord is not null)
                {
                    // Task statistics: the sample keeps none.
                }
                else if (message is null)
                {
                    logger.LogWarning("Agent {AgentId} sent a malformed message; ignored", logId);
                }
                else
                {
                    logger.LogWarning("Agent {AgentId} sent a message of no kind this master knows; ignored", logId);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            logger.LogInformation("Agent {AgentId} connection ended: {Reason}", logId, ex.Message);
        }
        finally
        {
            bool removed;
            lock (_agents)
            {
                removed = _agents.TryRemove(new KeyValuePair<string, AgentConnection>(id, agent));
            }

            if (removed)
            {
                // Its tasks are orphaned: their credentials end now, not in 30 days.
                Tasks?.OnAgentGone(id);
            }

            logger.LogInformation("Agent {AgentId} disconnected", logId);
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

    /// <summary>
    /// Text a peer chose (an agent id, a host name), safe for a log line: control and format characters (terminal escapes,
    /// line breaks, bidi overrides) escaped as \uXXXX, at most 128 characters.
    /// </summary>
    public static string LogText(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var builder = new StringBuilder(Math.Min(text.Length, 140));
        foreach (var c in text)
        {
            if (builder.Length >= 128)
            {
                builder.Append('…');
                break;
            }

            if (char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format || char.IsSurrogate(c))
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static Task SendRaw(WebSocket socket, MasterMessage message, CancellationToken ct) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(ProtocolJson.Serialize(message)), WebSocketMessageType.Text, true, ct);
}
