using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Text.Json;
using System.Text.Json.Nodes;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Api;
using Determined.Samples.Master.Configuration;
using Determined.Samples.Master.Tasks;
using Determined.Samples.Master.Tls;
using Determined.Samples.Common.Protocol;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Determined.Samples.Master;

/// <summary>The sample master: Kestrel with Determined's TLS rules, the REST subset, the agent websocket and task launching.</summary>
public sealed class MasterHost : IAsyncDisposable
{
    /// <summary>A PEP 440 version (upstream's CLI parses it with packaging.version): the upstream release it follows, plus a local label.</summary>
    public const string Version = "0.38.0+dotnet.sample";

    private MasterHost(WebApplication app, Uri uri, ServerCertificateReloader? certificates, AgentHub agents, TaskRegistry tasks, AuthService auth)
    {
        Auth = auth;
        App = app;
        Uri = uri;
        Certificates = certificates;
        Agents = agents;
        Tasks = tasks;
    }

    public WebApplication App { get; }

    /// <summary>The bound URL (the real port when 0 was asked for); 127.0.0.1 when listening on all interfaces.</summary>
    public Uri Uri { get; }

    public ServerCertificateReloader? Certificates { get; }

    public AgentHub Agents { get; }

    public TaskRegistry Tasks { get; }

    public AuthService Auth { get; }

    public static async Task<MasterHost> StartAsync(MasterConfig config, Func<string, string?> env, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logging is null)
        {
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        }
        else
        {
            logging(builder.Logging);
        }

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        var identity = new MasterIdentity(Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), config.ClusterName, Version);

        // Loggers are created from the app's factory after Build; the certificate must load before Kestrel starts.
        ServerCertificateReloader? certificates = null;
        ClientCertificateVerifier? verifier = null;
        Limits.ConnectionLimits? limits = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;

            // What an unauthenticated peer can hold (docs/RELIABILITY.md): connections in all and per address (counted
            // before TLS), a handshake, an idle connection, a request's headers; small headers; agents' websockets.
            kestrel.Limits.KeepAliveTimeout = config.IdleTimeout;
            kestrel.Limits.RequestHeadersTimeout = config.RequestHeadersTimeout;
            kestrel.Limits.MaxConcurrentUpgradedConnections = config.MaxAgentConnections;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 64;
            kestrel.Limits.MaxRequestLineSize = 8 * 1024;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 20;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 256 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 128 * 1024;

            // A body that trickles holds its connection and its buffer: after 5 s it must arrive at 4 KB/s or more.
            kestrel.Limits.MinRequestBodyDataRate = new Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate(bytesPerSecond: 4096, gracePeriod: TimeSpan.FromSeconds(5));
            kestrel.Listen(config.ListenAddress, config.EffectivePort, listen =>
            {
                listen.Use(next => limits!.Wrap(next));
                if (!config.TlsEnabled)
                {
                    listen.Protocols = HttpProtocols.Http1;
                    return;
                }

                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    HandshakeTimeout = config.HandshakeTimeout,
                    OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = certificates!.Context,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
                        ClientCertificateRequired = config.RequireAuthentication,
                        RemoteCertificateValidationCallback = config.RequireAuthentication ? (_, c, ch, e) => verifier!.Validate(c, ch, e) : null,
                        CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,

                        // An agent's certificate may name issuer URLs: the master never fetches them (no request forgery).
                        CertificateChainPolicy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
                        {
                            RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                            DisableCertificateDownloads = true,
                        },
                    }),
                });
            });
        });

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>();
        var masterLogger = log.CreateLogger("Determined.Master");
        limits = new Limits.ConnectionLimits(config.MaxConnections, config.MaxConnectionsPerAddress, log.CreateLogger<Limits.ConnectionLimits>());
        if (config.TlsEnabled)
        {
            certificates = new ServerCertificateReloader(config.TlsCert!, config.TlsKey!, log.CreateLogger<ServerCertificateReloader>());
            if (config.RequireAuthentication)
            {
                verifier = new ClientCertificateVerifier(config.ClientCa, log.CreateLogger<ClientCertificateVerifier>());
            }
        }

        var auth = new AuthService(config.Users, env, TimeSpan.FromDays(config.TokenLifespanDays));
        var startLog = log.CreateLogger("Determined.Samples.Master");
        foreach (var warning in auth.Warnings)
        {
            startLog.LogWarning("{Warning}", warning);
        }

        if (!IPAddress.IsLoopback(config.ListenAddress) && auth.HasDefaultUsersWithoutPassword)
        {
            startLog.LogWarning("The default users 'determined' and 'admin' have empty passwords (as upstream) and this master listens on {Address}: anyone who reaches it can log in and launch commands. Fix: define them in 'users' with password_env, or listen on 127.0.0.1.", config.ListenAddress);
        }

        var agents = new AgentHub(config.RequireAuthentication, config.AgentCertificateNames, () => new MasterSetAgentOptions
        {
            MasterInfo = new MasterInfoMessage { Version = identity.Version, MasterId = identity.MasterId, ClusterId = identity.ClusterId, ClusterName = identity.ClusterName },
        }, log.CreateLogger<AgentHub>());
        var tasks = new TaskRegistry(agents, auth, identity, () => certificates?.ChainPem ?? string.Empty, log.CreateLogger<TaskRegistry>());
        agents.Tasks = tasks;

        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(15), KeepAliveTimeout = TimeSpan.FromSeconds(60) });
        app.Use((context, next) =>
        {
            // Small bodies everywhere (login and JSON APIs), larger only where task logs are posted; a declared length over
            // the limit is refused before anything is read.
            var limit = context.Request.Path.StartsWithSegments("/api/v1/task/logs", StringComparison.Ordinal) ? MaxLogBodyBytes
                : context.Request.Path.StartsWithSegments("/api/v1/auth/login", StringComparison.Ordinal) ? MaxLoginBodyBytes
                : MaxJsonBodyBytes;
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = limit;
            }

            if (context.Request.ContentLength > limit)
            {
                return ApiErrors.TooLarge($"the request body of {context.Request.ContentLength} bytes is larger than the {limit} this endpoint accepts").ExecuteAsync(context);
            }

            return next(context);
        });
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException && !context.Response.HasStarted)
            {
                // A body that parsed but cannot be read as the fields it names (invalid UTF-8 inside a string, a wrong
                // type): the client's error, answered as such, never a 500 with a stack trace.
                masterLogger.LogDebug("Refused a malformed request body on {Path}: {Error}", context.Request.Path, ex.GetType().Name);
                await ApiErrors.InvalidArgument("the request body is not the expected JSON").ExecuteAsync(context);
            }
        });
        MapEndpoints(app, identity, auth, agents, tasks, config.MaxLogEntriesPerRequest);

        await app.StartAsync(cancellationToken);
        var bound = new Uri(app.Urls.First());
        var host = config.ListenAddress.Equals(IPAddress.Any) || config.ListenAddress.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : config.ListenAddress.ToString();
        var uri = new UriBuilder(config.TlsEnabled ? "https" : "http", host, bound.Port).Uri;
        if (certificates is { } c)
        {
            var leaf = c.Leaf;
            masterLogger.LogInformation(
                "Determined master listening on {Url} (bound {Bound}): TLS on, certificate '{Subject}', names [{Names}], SHA-256 {Fingerprint}, expires {Expiry:u}; agents {AgentAuth}",
                uri, $"{config.ListenAddress}:{bound.Port}", leaf.Subject, string.Join(", ", leaf.Names), leaf.Sha256Fingerprint, leaf.NotAfter,
                config.RequireAuthentication ? "must present a client certificate (mTLS)" : "need no client certificate");
        }
        else
        {
            masterLogger.LogInformation("Determined master listening on {Url} (bound {Bound}): TLS off (plain HTTP)", uri, $"{config.ListenAddress}:{bound.Port}");
        }

        return new MasterHost(app, uri, certificates, agents, tasks, auth);
    }

    private const int MaxJsonBodyBytes = 64 * 1024;

    /// <summary>A login is a user name and a password (hashed by the CLI: 128 hex characters): 4 KiB is generous.</summary>
    private const int MaxLoginBodyBytes = 4 * 1024;

    /// <summary>Task-log bytes all posts may hold in memory at once; a post beyond it is answered 503 (retry later).</summary>
    private const long MaxLogBytesInFlight = 64L * 1024 * 1024;
    private const int MaxLogBodyBytes = 8 * 1024 * 1024;

    /// <summary>A body read into one buffer of its declared size (no doubling copies); of unknown length, grown as it comes.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, int expected, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } length)
        {
            var buffer = new byte[length];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await request.Body.ReadAsync(buffer.AsMemory(read), cancellationToken);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            return read == buffer.Length ? buffer : buffer[..read];
        }

        using var grown = new MemoryStream(Math.Min(expected, 64 * 1024));
        await request.Body.CopyToAsync(grown, cancellationToken);
        return grown.ToArray();
    }

    private static readonly System.Text.Json.JsonDocumentOptions s_jsonLimits = new() { MaxDepth = 16, AllowDuplicateProperties = false };

    /// <summary>A request's JSON body within the endpoint's size limit and a depth of 16; a refusal otherwise, never an exception.</summary>
    private static async Task<(JsonNode? Node, IResult? Refused)> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return (await JsonNode.ParseAsync(context.Request.Body, documentOptions: s_jsonLimits, cancellationToken: context.RequestAborted), null);
        }
        catch (System.Text.Json.JsonException)
        {
            return (null, null);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, ApiErrors.TooLarge("the request body is larger than this endpoint accepts"));
        }
    }

    private static void MapEndpoints(WebApplication app, MasterIdentity identity, AuthService auth, AgentHub agents, TaskRegistry tasks, int maxLogEntries)
    {
        // The identity never changes while the master runs: serialize these answers once, not per request (every task,
        // agent and CLI asks for /info first).
        static IResult Fixed(byte[] json) => Results.Bytes(json, "application/json; charset=utf-8");
        var loginFailures = new Limits.LoginThrottle(TimeProvider.System);
        var logBytesInFlight = new System.Runtime.CompilerServices.StrongBox<long>(); // this master's, not the process's
        var info = JsonSerializer.SerializeToUtf8Bytes(
            new
            {
                version = identity.Version,
                master_id = identity.MasterId,
                cluster_id = identity.ClusterId,
                cluster_name = identity.ClusterName,
                // Go's aproto.TelemetryInfo: segment_key is omitted when empty (omitempty).
                telemetry = new { enabled = false, otel_enabled = false, otel_endpoint = string.Empty },
                sso_providers = Array.Empty<object>(),
            },
            JsonSerializerOptions.Web);
        var master = JsonSerializer.SerializeToUtf8Bytes(
            new
            {
                version = identity.Version,
                masterId = identity.MasterId,
                clusterId = identity.ClusterId,
                clusterName = identity.ClusterName,
                telemetryEnabled = false,
                // The fields upstream's Python bindings (v1GetMasterResponse.from_json) require, and the usual rest.
                hasCustomLogo = false,
                strictJobQueueControl = false,
                ssoProviders = Array.Empty<object>(),
                featureSwitches = Array.Empty<string>(),
                rbacEnabled = false,
                userManagementEnabled = true,
                branding = "determined",
                externalLoginUri = string.Empty,
                externalLogoutUri = string.Empty,
                product = "PRODUCT_UNSPECIFIED",
            },
            JsonSerializerOptions.Web);
        app.MapGet("/info", () => Fixed(info));
        app.MapGet("/api/v1/master", () => Fixed(master));

        app.MapPost("/api/v1/auth/login", async (HttpContext context) =>
        {
            var (json, refused) = await ReadJsonAsync(context);
            if (refused is not null)
            {
                return refused;
            }

            var body = json as JsonObject;

            var username = body?["username"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)body["username"] : null;
            var password = body?["password"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)body["password"] : string.Empty;
            var isHashed = body?["isHashed"]?.GetValueKind() == System.Text.Json.JsonValueKind.True;
            if (username is null)
            {
                return ApiErrors.InvalidArgument("username is required");
            }

            // Failures are counted per address and user name (and per address): one client cannot lock every user out of a
            // shared address, and the counting itself is bounded in memory whatever names are sent (LoginThrottle).
            var address = context.Connection.RemoteIpAddress;
            if (loginFailures.IsLockedOut(address, username))
            {
                return ApiErrors.Error(StatusCodes.Status429TooManyRequests, 8, "ResourceExhausted", $"too many failed logins from {address}; try again in a minute");
            }

            var token = auth.Login(username, password ?? string.Empty, isHashed);
            if (token is null)
            {
                loginFailures.Failed(address, username);
                return ApiErrors.Unauthenticated("invalid credentials");
            }

            var user = auth.User(username)!;
            return Results.Json(new JsonObject { ["token"] = token, ["user"] = UpstreamJson.User(user) });
        });

        app.MapPost("/api/v1/auth/logout", (HttpContext context) =>
        {
            var token = AuthService.Bearer(context.Request.Headers.Authorization.ToString());
            return token is not null && auth.Logout(token) ? Results.Json(new { }) : ApiErrors.Unauthenticated("no valid session token (Authorization: Bearer)");
        });

        app.MapGet("/api/v1/me", (HttpContext context) =>
            auth.Authenticate(context) is { } caller ? Results.Json(new JsonObject { ["user"] = UpstreamJson.User(caller.User) }) : ApiErrors.Unauthenticated("missing or invalid token"));

        app.MapPost("/api/v1/task/logs", async (HttpContext context) =>
        {
            var caller = auth.Authenticate(context);
            if (caller?.Allocation is not { } allocation)
            {
                return ApiErrors.Unauthenticated("task logs need an allocation token (Grpc-Metadata-x-allocation-token: Bearer $DET_SESSION_TOKEN)");
            }

            // The body (at most 8 MiB, the endpoint's limit) is read as bytes and walked token by token, never as a tree; all
            // posts together hold at most MaxLogBytesInFlight (a body of unknown length counts as the largest allowed).
            var reserved = context.Request.ContentLength ?? MaxLogBodyBytes;
            if (Interlocked.Add(ref logBytesInFlight.Value, reserved) > MaxLogBytesInFlight)
            {
                Interlocked.Add(ref logBytesInFlight.Value, -reserved);
                return ApiErrors.Error(StatusCodes.Status503ServiceUnavailable, 14, "Unavailable", "too many task-log bytes are being received at once; retry shortly");
            }

            byte[] body;
            try
            {
                body = await ReadBodyAsync(context.Request, (int)Math.Min(reserved, MaxLogBodyBytes), context.RequestAborted);
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return ApiErrors.TooLarge("the request body is larger than this endpoint accepts");
            }
            finally
            {
                Interlocked.Add(ref logBytesInFlight.Value, -reserved);
            }

            var (logs, refusal) = Limits.TaskLogsReader.Read(body, maxLogEntries);
            if (logs is null)
            {
                return ApiErrors.InvalidArgument(refusal!);
            }

            foreach (var entry in logs)
            {
                if (!tasks.AddTaskLog(allocation, entry.AllocationId, entry.Log, entry.StdType))
                {
                    return ApiErrors.PermissionDenied($"the allocation token of {allocation.AllocationId} cannot write logs of allocation {entry.AllocationId}");
                }
            }

            return Results.Json(new { });
        });

        app.MapGet("/api/v1/agents", (HttpContext context) =>
        {
            if (auth.Authenticate(context) is not { HasUserToken: true })
            {
                return ApiErrors.Unauthenticated("listing agents needs a valid user token (Authorization: Bearer); a task's allocation token does not act as its user");
            }

            var list = agents.Connected.ToList();
            return Results.Json(new JsonObject
            {
                ["agents"] = new JsonArray([.. list.Select(a => UpstreamJson.Agent(a, [.. tasks.RunningOn(a.Id)]))]),
                ["pagination"] = UpstreamJson.Pagination(list.Count),
            });
        });

        // LaunchCommandRequest: {"config": {"entrypoint": [...] or "...", "description": ...}, "templateName", "files",
        // "data", "workspaceId"}; "agentId" (top level) is this sample's extension to choose the agent.
        app.MapPost("/api/v1/commands", async (HttpContext context) =>
        {
            // Only a user session launches tasks: an allocation token (a task's own credential) never does.
            var caller = auth.Authenticate(context);
            if (caller is null || !caller.HasUserToken)
            {
                return ApiErrors.Unauthenticated("launching a task needs a valid user token (Authorization: Bearer) and no invalid credential");
            }

            var (json, refused) = await ReadJsonAsync(context);
            if (refused is not null)
            {
                return refused;
            }

            var config = (json as JsonObject)?["config"] as JsonObject;
            var entrypoint = config?["entrypoint"];
            List<string?>? command = entrypoint?.GetValueKind() switch
            {
                System.Text.Json.JsonValueKind.Array => [.. ((JsonArray)entrypoint).Select(n => n?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)n : null)],
                System.Text.Json.JsonValueKind.String => ["sh", "-c", (string?)entrypoint],
                _ => null,
            };
            if (command is null || command.Count == 0 || command.Any(c => c is null))
            {
                return ApiErrors.InvalidArgument("expected {\"config\":{\"entrypoint\":[\"program\",\"arg\",...]}} (LaunchCommandRequest)");
            }

            var description = config?["description"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)config["description"] : null;
            var agentId = json?["agentId"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string?)json["agentId"] : null;
            try
            {
                var record = await tasks.LaunchAsync(command!, description, caller.User, agentId, context.RequestAborted);
                return Results.Json(new JsonObject
                {
                    ["command"] = UpstreamJson.Command(record, caller.User),
                    ["config"] = config!.DeepClone(),
                    ["warnings"] = new JsonArray(),
                });
            }
            catch (InvalidOperationException ex)
            {
                return ApiErrors.Unavailable(ex.Message);
            }
        });

        // A user session reads any task; an allocation token only its own task.
        static bool MayRead(Caller? caller, string taskId) => caller is { HasUserToken: true } || caller?.Allocation?.TaskId == taskId;

        // GetCommandsResponse: every command (the sample keeps them all), unpaged.
        app.MapGet("/api/v1/commands", (HttpContext context) =>
        {
            if (auth.Authenticate(context) is not { HasUserToken: true } caller)
            {
                return ApiErrors.Unauthenticated("listing commands needs a valid user token (Authorization: Bearer)");
            }

            var list = tasks.All.ToList();
            return Results.Json(new JsonObject
            {
                ["commands"] = new JsonArray([.. list.Select(t => UpstreamJson.Command(t, auth.User(t.User) ?? caller.User))]),
                ["pagination"] = UpstreamJson.Pagination(list.Count),
            });
        });

        // GetCommandResponse.
        app.MapGet("/api/v1/commands/{commandId}", (HttpContext context, string commandId) =>
        {
            if (!MayRead(auth.Authenticate(context), commandId))
            {
                return ApiErrors.Unauthenticated("reading a command needs a valid user token, or the allocation token of that task");
            }

            return tasks.Get(commandId) is { } t && auth.User(t.User) is { } owner
                ? Results.Json(new JsonObject { ["command"] = UpstreamJson.Command(t, owner), ["config"] = new JsonObject { ["entrypoint"] = new JsonArray([.. t.Command.Select(c => (JsonNode)c)]), ["description"] = t.Description } })
                : ApiErrors.NotFound($"command {commandId} not found");
        });

        // GetWorkspacesResponse: the one workspace of this sample, upstream's default "Uncategorized" (commands land there).
        app.MapGet("/api/v1/workspaces", (HttpContext context) =>
            auth.Authenticate(context) is not { HasUserToken: true }
                ? ApiErrors.Unauthenticated("listing workspaces needs a valid user token (Authorization: Bearer)")
                : Results.Json(new JsonObject
                {
                    ["workspaces"] = new JsonArray(UpstreamJson.DefaultWorkspace()),
                    ["pagination"] = UpstreamJson.Pagination(1),
                }));

        // GetTasksResponse: the allocations that have not ended, by allocation id.
        app.MapGet("/api/v1/tasks", (HttpContext context) =>
        {
            if (auth.Authenticate(context) is not { HasUserToken: true })
            {
                return ApiErrors.Unauthenticated("listing tasks needs a valid user token (Authorization: Bearer)");
            }

            var summaries = new JsonObject();
            foreach (var task in tasks.All.Where(t => t.State != ContainerStates.Terminated))
            {
                summaries[task.AllocationId] = UpstreamJson.AllocationSummary(task);
            }

            return Results.Json(new JsonObject { ["allocationIdToSummary"] = summaries });
        });

        app.MapGet("/api/v1/tasks/{taskId}", (HttpContext context, string taskId) =>
        {
            if (!MayRead(auth.Authenticate(context), taskId))
            {
                return ApiErrors.Unauthenticated("reading a task needs a valid user token, or the allocation token of that task");
            }

            return tasks.Get(taskId) is { } t
                ? Results.Json(new JsonObject { ["task"] = UpstreamJson.Task(t) })
                : ApiErrors.NotFound($"task {taskId} not found");
        });

        // A server stream as grpc-gateway writes it: one {"result": TaskLogsResponse} per line. follow=true keeps the
        // stream open until the task ends (or the client leaves); limit caps the lines.
        app.MapGet("/api/v1/tasks/{taskId}/logs", async (HttpContext context, string taskId) =>
        {
            if (!MayRead(auth.Authenticate(context), taskId))
            {
                await ApiErrors.Unauthenticated("reading a task's logs needs a valid user token, or the allocation token of that task").ExecuteAsync(context);
                return;
            }

            if (tasks.Get(taskId) is not { } task)
            {
                await ApiErrors.NotFound($"task {taskId} not found").ExecuteAsync(context);
                return;
            }

            var followText = context.Request.Query["follow"].ToString();
            var limitText = context.Request.Query["limit"].ToString();
            var limit = 0;
            if (followText is not ("" or "true" or "false") || (limitText.Length > 0 && !int.TryParse(limitText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit)))
            {
                await ApiErrors.InvalidArgument("follow must be true or false, and limit a number from 0 (no limit) to 2147483647").ExecuteAsync(context);
                return;
            }

            var follow = followText == "true";
            limit = limit == 0 ? int.MaxValue : limit;
            context.Response.ContentType = "application/json";
            var ct = context.RequestAborted;
            long last = 0;
            var written = 0;
            try
            {
                while (written < limit)
                {
                    var ended = task.State == ContainerStates.Terminated;
                    foreach (var entry in task.Logs.After(last, Math.Min(1000, limit - written)))
                    {
                        await context.Response.WriteAsync(UpstreamJson.TaskLogLine(task, entry).ToJsonString() + "\n", ct);
                        last = entry.Id;
                        written++;
                    }

                    if (!follow || (ended && task.Logs.After(last, 1).Count == 0))
                    {
                        break;
                    }

                    // A followed stream ends when the task ends, the client leaves, or the caller's credentials stop working.
                    await context.Response.Body.FlushAsync(ct);
                    await task.Logs.WaitForAppendAsync(TimeSpan.FromSeconds(1), ct);
                    if (!MayRead(auth.Authenticate(context), taskId))
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The client left a followed stream.
            }
        });

        app.Map("/agents", agents.HandleAsync);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
