using System.Net;
using System.Net.WebSockets;
using System.Text;
using Determined.Samples.Agent.Configuration;
using Determined.Samples.Common.Protocol;
using Determined.Security;

namespace Determined.Samples.Agent;

/// <summary>
/// Connects to the master's /agents websocket over wss:// (or ws://) with Determined.Security trust, requires
/// MasterSetAgentOptions first, answers AgentStarted, handles StartContainer/SignalContainer/AgentShutdown, and
/// reconnects with agent_reconnect_attempts × agent_reconnect_backoff, keeping its id.
/// </summary>
public sealed partial class AgentRunner(AgentConfig config, MasterHttpHandlerFactory factory, ILogger logger)
{
    public const string Version = "0.38.0+dotnet.sample";

    private const int MaxMessageBytes = 16 * 1024 * 1024;

    /// <summary>Registered at least once: later connections say reconnect=true and keep the agent id.</summary>
    private bool _registered;

    /// <summary>The current session got as far as AgentStarted.</summary>
    private bool _sessionRegistered;

    /// <summary>Runs until shutdown; returns the process exit code. Every failure is reported with its fix.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        using var handler = factory.CreateHandler(config.MasterUri);
        using var invoker = new HttpMessageInvoker(handler, disposeHandler: false);
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var outcome = await SessionAsync(invoker, reconnect: _registered, cancellationToken);
                failures = 0;
                _sessionRegistered = false;
                if (outcome is { } exit)
                {
                    return exit;
                }

                LostConnection(logger, config.MasterUri);
            }
            catch (MasterConnectionException ex)
            {
                CannotConnect(logger, config.MasterUri, ex.Message);
                return 1;
            }
            catch (FatalAgentException ex)
            {
                Fatal(logger, ex.Message);
                return 1;
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or HttpRequestException or IOException && cancellationToken.IsCancellationRequested)
            {
                // Asked to stop (SIGTERM, SIGQUIT, Ctrl+C) while connected: the session is closed, which is a clean exit.
                break;
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                if (_sessionRegistered)
                {
                    // The connection of a registered session dropped: a fresh round of attempts.
                    _sessionRegistered = false;
                    failures = 0;
                    LostConnection(logger, config.MasterUri, ex.Message);
                    continue;
                }

                failures++;
                if (failures > config.ReconnectAttempts)
                {
                    GivingUp(
                        logger, config.MasterUri, failures, config.ReconnectBackoff.TotalSeconds, ex.Message,
                        ClientCertificateRefusalHint(ex) ?? $"check that the master runs and is reachable at {config.MasterUri}, or raise agent_reconnect_attempts / agent_reconnect_backoff.");
                    return 1;
                }

                ConnectFailed(logger, config.MasterUri, ex.Message, failures, config.ReconnectAttempts, config.ReconnectBackoff.TotalSeconds);
                if (failures == 1 && ClientCertificateRefusalHint(ex) is { } hint)
                {
                    ClientCertificateHint(logger, hint);
                }
            }

            try
            {
                await Task.Delay(failures == 0 ? TimeSpan.FromMilliseconds(100) : config.ReconnectBackoff, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        Stopped(logger, config.AgentId);
        return 0;
    }

    /// <summary>What the master's refusal of the upgrade means for this agent, and its fix, from the reason code it sent.</summary>
    private string RefusalMessage(HttpStatusCode status, string? reason, string detail)
    {
        var certificate = factory.Resolver.Policy.ClientCertificate;
        var names = certificate is null ? "none" : string.Join(", ", AgentIdentity.CertificateNames(certificate));
        var refused = $"The master {config.MasterUri} refused the agent '{config.AgentId}' with {(int)status}";
        return reason switch
        {
            AgentRefusal.ClientCertificateRequired =>
                $"{refused}: it requires a client certificate (resource_manager.require_authentication) and this agent sent none. Fix: set security.tls.client_cert and security.tls.client_key (agent.yaml or --security-tls-client-cert/--security-tls-client-key) to a certificate issued by the master's resource_manager.client_ca.",
            AgentRefusal.IdNotCertificateName =>
                $"{refused}: the agent id is not a name of this agent's client certificate '{certificate?.Subject}' (its names: {names}). Fix: set agent_id (--agent-id or DET_AGENT_ID) to one of those names, issue the agent a certificate for '{config.AgentId}', or map the id to the certificate's name on the master (resource_manager.agent_certificate_names).",
            AgentRefusal.IdHeldByAnotherCertificate =>
                $"{refused}: an agent with this id is already connected with another client certificate. Fix: give each agent its own agent_id (--agent-id or DET_AGENT_ID) and certificate, or stop the other agent first.",
            _ when status == HttpStatusCode.Forbidden && certificate is null =>
                $"{refused}: it probably requires a client certificate, and this agent sent none. Fix: set security.tls.client_cert and security.tls.client_key to a certificate issued by the master's resource_manager.client_ca.",
            _ => $"{refused} ({detail}).",
        };
    }

    /// <summary>
    /// A TLS failure while this agent presents a client certificate: the master verified the master's own certificate
    /// already (a refusal of it is a <see cref="MasterConnectionException"/>), so the likely cause is the master refusing
    /// the agent's certificate in the handshake (another CA than its resource_manager.client_ca, expired, no clientAuth).
    /// </summary>
    private string? ClientCertificateRefusalHint(Exception ex)
    {
        var certificate = factory.Resolver.Policy.ClientCertificate;
        var tls = false;
        for (var e = (Exception?)ex; e is not null; e = e.InnerException)
        {
            // TLS 1.2 refuses in the handshake; TLS 1.3 verifies the client certificate after the client's Finished, so the
            // refusal ends the connection before any answer.
            tls |= e is System.Security.Authentication.AuthenticationException
                || e is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError or HttpRequestError.ResponseEnded };
        }

        return certificate is null || !tls
            ? null
            : $"the TLS connection failed while this agent presented its client certificate '{certificate.Subject}' issued by '{certificate.Issuer}' (valid {certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u}); a master with resource_manager.require_authentication refuses a certificate that is not issued by its resource_manager.client_ca, is expired, or is not for client authentication. Check security.tls.client_cert against the master's resource_manager.client_ca (the master logs 'Refused a client certificate' with the reason).";
    }

    /// <summary>One websocket session; returns an exit code to stop, or null to reconnect.</summary>
    private async Task<int?> SessionAsync(HttpMessageInvoker invoker, bool reconnect, CancellationToken cancellationToken)
    {
        var scheme = config.TlsEnabled ? "wss" : "ws";
        var query = $"id={Uri.EscapeDataString(config.AgentId)}&version={Uri.EscapeDataString(Version)}&resource_pool={Uri.EscapeDataString(config.ResourcePool)}&reconnect={(reconnect ? "true" : "false")}&hostname={Uri.EscapeDataString(Dns.GetHostName())}";
        var uri = new UriBuilder(scheme, config.MasterHost, config.EffectivePort, "/agents", "?" + query).Uri;
        using var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(15);
        socket.Options.KeepAliveTimeout = TimeSpan.FromSeconds(60);
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(uri, invoker, cancellationToken);
        }
        catch (WebSocketException ex) when (socket.HttpStatusCode is { } status && status != 0)
        {
            var reason = socket.HttpResponseHeaders?.TryGetValue(AgentRefusal.Header, out var values) == true ? values.FirstOrDefault() : null;
            throw new FatalAgentException(RefusalMessage(status, reason, ex.Message));
        }

        var first = await WebSocketText.ReceiveAsync(socket, MaxMessageBytes, cancellationToken);
        var setup = first is null ? null : ProtocolJson.ParseMaster(first)?.MasterSetAgentOptions;
        if (setup is null)
        {
            throw new FatalAgentException("master did not send setup messages (expected MasterSetAgentOptions first).");
        }

        Connected(logger, config.MasterUri, scheme, setup.MasterInfo.ClusterName, setup.MasterInfo.MasterId, setup.MasterInfo.Version, factory.Resolver.Resolve(config.MasterUri).Reason);
        var sendLock = new SemaphoreSlim(1, 1);
        async Task Send(AgentMessage message)
        {
            var bytes = Encoding.UTF8.GetBytes(ProtocolJson.Serialize(message));
            await sendLock.WaitAsync(CancellationToken.None);
            try
            {
                if (socket.State == WebSocketState.Open)
                {
                    await socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
                }
            }
            finally
            {
                sendLock.Release();
            }
        }

        await Send(new AgentMessage
        {
            AgentStarted = new AgentStarted
            {
                Version = Version,
                ResourcePoolName = config.ResourcePool,
                Devices = [new Device { Id = 0, Brand = "cpu", Uuid = config.AgentId + "-cpu0", Type = "cpu" }],
            },
        });
        _registered = true;
        _sessionRegistered = true;
        Registered(logger, config.AgentId, reconnect);

        var launcher = new TaskLauncher(config, Send, logger);
        using var stopTasks = cancellationToken.Register(() => launcher.KillAll()); // the agent stops: so do its tasks
        while (await WebSocketText.ReceiveAsync(socket, MaxMessageBytes, cancellationToken) is { } text)
        {
            var message = ProtocolJson.ParseMaster(text);
            if (message?.StartContainer is { } start)
            {
                _ = Task.Run(() => launcher.StartAsync(start, cancellationToken), CancellationToken.None);
            }
            else if (message?.SignalContainer is { } signal)
            {
                launcher.Kill(signal.ContainerID);
            }
            else if (message?.AgentShutdown is { } shutdown)
            {
                ShutdownAsked(logger, shutdown.ErrMsg);
                return 0;
            }
            else if (message is null)
            {
                MalformedMessage(logger);
            }
            else if (message.MasterSetAgentOptions is null)
            {
                UnknownMessage(logger);
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the connection to the master {Master}; reconnecting")]
    private static partial void LostConnection(ILogger logger, Uri master);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the connection to the master {Master} ({Error}); reconnecting")]
    private static partial void LostConnection(ILogger logger, Uri master, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot connect to the master {Master}: {Error}")]
    private static partial void CannotConnect(ILogger logger, Uri master, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "The agent stops: {Reason}")]
    private static partial void Fatal(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Giving up on the master {Master} after {Attempts} failed attempts {Backoff} s apart ({Error}). Fix: {Fix}")]
    private static partial void GivingUp(ILogger logger, Uri master, int attempts, double backoff, string error, string fix);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connecting to {Master} failed ({Error}); attempt {Attempt} of {Max} in {Backoff} s")]
    private static partial void ConnectFailed(ILogger logger, Uri master, string error, int attempt, int max, double backoff);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Likely cause: {Hint}")]
    private static partial void ClientCertificateHint(ILogger logger, string hint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {AgentId} stopped")]
    private static partial void Stopped(ILogger logger, string agentId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to master {Master} over {Scheme} (cluster {Cluster}, master {MasterId}, version {Version}); trust: {Trust}")]
    private static partial void Connected(ILogger logger, Uri master, string scheme, string cluster, string masterId, string version, string trust);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {AgentId} registered with the master (reconnect={Reconnect})")]
    private static partial void Registered(ILogger logger, string agentId, bool reconnect);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The master asked the agent to shut down: {Reason}")]
    private static partial void ShutdownAsked(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a malformed message from the master")]
    private static partial void MalformedMessage(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a message of no kind this agent knows from the master")]
    private static partial void UnknownMessage(ILogger logger);
}

/// <summary>A failure that reconnecting cannot fix; the agent exits with its message.</summary>
public sealed class FatalAgentException(string message) : Exception(message);
