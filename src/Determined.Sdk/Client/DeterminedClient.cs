using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Determined.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Sdk;

/// <summary>
/// A client of a Determined master's REST API. Thread-safe; create one per master and reuse it (or resolve it from
/// <c>services.AddDeterminedClient()</c>). Every method is virtual so tests can substitute it.
/// </summary>
/// <remarks>
/// Authentication is added to every request: <c>Authorization: Bearer</c> with the user token (from
/// <see cref="LoginAsync"/>, the options, <c>DET_USER_TOKEN</c> or <c>auth.json</c>), and inside a task
/// <c>Grpc-Metadata-x-allocation-token: Bearer $DET_SESSION_TOKEN</c>. Each call has one deadline
/// (<see cref="DeterminedClientOptions.Timeout"/>) and a bounded answer (<see cref="DeterminedClientOptions.MaxResponseBytes"/>).
/// The HTTP pipeline retries idempotent requests after connection failures and 502/503/504 answers (Polly, with backoff
/// and <c>Retry-After</c>); POSTs, TLS failures and other answers are never retried.
/// </remarks>
public class DeterminedClient : IDisposable
{

    /// <summary>The header that carries a task's allocation token.</summary>
    internal const string AllocationTokenHeader = "Grpc-Metadata-x-allocation-token";

    private readonly HttpClient _http;
    private readonly bool _ownsHttpClient;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _base;
    private SdkTelemetry _telemetry = SdkTelemetry.Shared;
    private volatile string? _userToken;

    /// <summary>Initializes a client over an <see cref="HttpClient"/> whose handler carries the master's TLS trust (as <c>AddDeterminedClient</c> configures it).</summary>
    /// <param name="httpClient">The HTTP client; not disposed by this instance.</param>
    /// <param name="settings">The effective settings (master URL, credentials).</param>
    /// <param name="logger">Where retries are logged.</param>
    /// <param name="meterFactory">Creates the <c>Determined.Sdk</c> meter; <see langword="null"/> for a shared one.</param>
    /// <param name="timeProvider">The clock of call deadlines; <see langword="null"/> for the system clock.</param>
    public DeterminedClient(HttpClient httpClient, DeterminedConnectionSettings settings, ILogger<DeterminedClient>? logger = null, IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
        : this(httpClient, settings, logger, ownsHttpClient: false, timeProvider)
    {
        _telemetry = meterFactory is null ? SdkTelemetry.Shared : new SdkTelemetry(meterFactory);
    }

    /// <summary>Initializes an instance for mocking.</summary>
    protected DeterminedClient()
    {
        _http = null!;
        Settings = null!;
        _logger = NullLogger.Instance;
        _time = TimeProvider.System;
        _base = string.Empty;
    }

    private DeterminedClient(HttpClient httpClient, DeterminedConnectionSettings settings, ILogger? logger, bool ownsHttpClient, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(settings);
        _http = httpClient;
        _ownsHttpClient = ownsHttpClient;
        Settings = settings;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _userToken = settings.UserToken;
        _base = settings.MasterUri.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }

    /// <summary>Gets the effective settings, with the source of each value.</summary>
    public DeterminedConnectionSettings Settings { get; }

    /// <summary>
    /// Creates a client from the environment alone: inside a Determined task this needs no configuration
    /// (<c>DET_MASTER</c>, <c>DET_MASTER_CERT_FILE</c>, <c>DET_MASTER_CERT_NAME</c>, <c>DET_SESSION_TOKEN</c>, …).
    /// </summary>
    /// <param name="options">Explicit options that win over the environment, if any.</param>
    /// <param name="loggerFactory">Where the SDK logs; <see langword="null"/> for nowhere.</param>
    /// <returns>A client that owns its handler; dispose it.</returns>
    /// <exception cref="DeterminedConfigurationException">A setting is invalid; every problem is listed with its fix.</exception>
    public static DeterminedClient FromEnvironment(DeterminedClientOptions? options = null, ILoggerFactory? loggerFactory = null) =>
        Create(options ?? new DeterminedClientOptions(), null, loggerFactory);

    internal static DeterminedClient Create(DeterminedClientOptions options, Func<string, string?>? getEnvironmentVariable, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory = null)
    {
        var factory = loggerFactory ?? NullLoggerFactory.Instance;
        var settings = DeterminedConnectionSettings.Resolve(options, getEnvironmentVariable, factory.CreateLogger(ClientPipeline.LoggerCategory));
        var telemetry = ClientPipeline.Telemetry(meterFactory);
        var retry = ClientPipeline.RetryHandler(settings, factory, telemetry);
        retry.InnerHandler = ClientPipeline.PrimaryHandler(ClientPipeline.HandlerFactory(settings, factory, timeProvider: null), settings);
        var http = ClientPipeline.Configure(new HttpClient(retry, disposeHandler: true), settings);
        var client = new DeterminedClient(http, settings, factory.CreateLogger<DeterminedClient>(), ownsHttpClient: true);
        client._telemetry = telemetry;
        return client;
    }

    /// <summary>Calls <c>GET /info</c> (no authentication).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The master's information.</returns>
    public virtual async Task<MasterInfo> GetInfoAsync(CancellationToken cancellationToken = default) =>
        await GetFromJsonAsync("info", SdkJsonContext.Default.MasterInfo, cancellationToken).ConfigureAwait(false)
        ?? throw new DeterminedApiException(HttpStatusCode.OK, 0, "InvalidResponse", "The master answered GET /info with null.");

    /// <summary>Calls <c>GET /api/v1/master</c>.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The master's details.</returns>
    public virtual async Task<MasterDetails> GetMasterAsync(CancellationToken cancellationToken = default) =>
        await GetFromJsonAsync("api/v1/master", SdkJsonContext.Default.MasterDetails, cancellationToken).ConfigureAwait(false)
        ?? throw new DeterminedApiException(HttpStatusCode.OK, 0, "InvalidResponse", "The master answered GET /api/v1/master with null.");

    /// <summary>
    /// Logs in (<c>POST /api/v1/auth/login</c>) with Determined's salted password hash, and uses the token for later
    /// calls of this client. The default Determined user is <c>determined</c> with an empty password.
    /// </summary>
    /// <param name="username">The user name.</param>
    /// <param name="password">The password (hashed before it is sent; never logged).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The token and user.</returns>
    /// <exception cref="DeterminedApiException">The credentials are wrong (401) or the master refused the login.</exception>
    public virtual async Task<LoginResult> LoginAsync(string username, string password, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(username);
        ArgumentNullException.ThrowIfNull(password);
        var body = new LoginRequest { Username = username, Password = PasswordHash.Hash(password), IsHashed = true };
        var result = await SendJsonAsync(HttpMethod.Post, "api/v1/auth/login", body, SdkJsonContext.Default.LoginRequest, SdkJsonContext.Default.LoginResult, cancellationToken).ConfigureAwait(false);
        _userToken = result?.Token ?? throw new DeterminedApiException(HttpStatusCode.OK, 0, null, "The master answered the login without a token.");
        return result;
    }

    /// <summary>Logs out (<c>POST /api/v1/auth/logout</c>); the client forgets its token.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the master has invalidated the token.</returns>
    public virtual async Task LogoutAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Post, "api/v1/auth/logout", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"), cancellationToken).ConfigureAwait(false);
        await ApiErrors.EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        _userToken = null;
    }

    /// <summary>Calls <c>GET /api/v1/me</c>: who the client acts as (a user token, or a task's allocation token).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The user.</returns>
    public virtual async Task<DeterminedUser> GetCurrentUserAsync(CancellationToken cancellationToken = default)
    {
        var me = await GetFromJsonAsync("api/v1/me", SdkJsonContext.Default.MeResponse, cancellationToken).ConfigureAwait(false);
        return me?.User ?? throw new DeterminedApiException(HttpStatusCode.OK, 0, null, "The master answered /api/v1/me without a user.");
    }

    /// <summary>Sends task log lines (<c>POST /api/v1/task/logs</c>), authenticated with the allocation token inside a task.</summary>
    /// <param name="logs">The lines.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the master accepted the lines.</returns>
    public virtual async Task PostTaskLogsAsync(IEnumerable<TaskLog> logs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(logs);
        using var response = await SendAsync(HttpMethod.Post, "api/v1/task/logs", Json(new TaskLogsRequest { Logs = logs.ToList() }, SdkJsonContext.Default.TaskLogsRequest), cancellationToken).ConfigureAwait(false);
        await ApiErrors.EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Gets any endpoint as JSON.</summary>
    /// <typeparam name="T">The response type.</typeparam>
    /// <param name="path">The path under the master URL, e.g. <c>api/v1/agents</c>.</param>
    /// <param name="typeInfo">The (source-generated) JSON metadata of <typeparamref name="T"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The response.</returns>
    public virtual async Task<T?> GetFromJsonAsync<T>(string path, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        using var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken).ConfigureAwait(false);
        await ApiErrors.EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, typeInfo, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a JSON body to any endpoint and reads a JSON answer.</summary>
    /// <typeparam name="TRequest">The body type.</typeparam>
    /// <typeparam name="TResponse">The response type.</typeparam>
    /// <param name="method">The HTTP method.</param>
    /// <param name="path">The path under the master URL.</param>
    /// <param name="body">The body.</param>
    /// <param name="requestTypeInfo">JSON metadata of the body.</param>
    /// <param name="responseTypeInfo">JSON metadata of the response.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The response.</returns>
    public virtual async Task<TResponse?> SendJsonAsync<TRequest, TResponse>(HttpMethod method, string path, TRequest body, JsonTypeInfo<TRequest> requestTypeInfo, JsonTypeInfo<TResponse> responseTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requestTypeInfo);
        ArgumentNullException.ThrowIfNull(responseTypeInfo);
        using var response = await SendAsync(method, path, Json(body, requestTypeInfo), cancellationToken).ConfigureAwait(false);
        await ApiErrors.EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, responseTypeInfo, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A UTF-8 JSON body, serialized once into bytes (SendAsync buffers bodies anyway, so they can be retried).</summary>
    private static ByteArrayContent Json<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, typeInfo));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        return content;
    }

    /// <summary>A body that is not the expected JSON is the master's fault: a <see cref="DeterminedApiException"/>, never a raw JsonException.</summary>
    private static async Task<T?> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        try
        {
            // The master answers UTF-8 JSON; reading the stream directly skips HttpContentJsonExtensions' charset handling
            // (and loading System.Net.Http.Json), which costs start-up time in every task.
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                return await JsonSerializer.DeserializeAsync(stream, typeInfo, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (JsonException ex)
        {
            throw new DeterminedApiException(
                response.StatusCode,
                0,
                "InvalidResponse",
                $"The master's answer to {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath} is not the expected JSON ({ex.Message}). Fix: check that the URL points at a Determined master of a supported version.",
                ex);
        }
    }

    /// <summary>
    /// Sends a request to any endpoint with authentication, and returns the response once its headers arrived (the caller
    /// checks the status and disposes it). One deadline (<see cref="DeterminedClientOptions.Timeout"/>) covers the whole
    /// exchange, retries and the reading of the body included; the body is limited to
    /// <see cref="DeterminedClientOptions.MaxResponseBytes"/>. Idempotent requests are retried by the HTTP pipeline.
    /// </summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="path">The path under the master URL.</param>
    /// <param name="content">The body, if any: buffered so it can be resent, and never disposed by this method.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The response.</returns>
    /// <exception cref="DeterminedApiException">The deadline expired (<c>Reason</c> <c>DeadlineExceeded</c>), or the body is larger than allowed (<c>ResponseTooLarge</c>, while it is read).</exception>
    /// <exception cref="MasterConnectionException">The master's TLS endpoint could not be trusted or reached over TLS.</exception>
    public virtual async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(path);
        var uri = new Uri(_base + "/" + path.TrimStart('/'));
        var deadline = new CallDeadline(Settings.Timeout, _time, _base, $"{method.Method} {uri.AbsolutePath}");
        using var activity = SdkTelemetry.ActivitySource.StartActivity("Determined " + method.Method, ActivityKind.Client);
        activity?.SetTag("http.request.method", method.Method);
        activity?.SetTag("url.path", uri.AbsolutePath);
        activity?.SetTag("server.address", uri.Host);
        var started = Stopwatch.GetTimestamp();
        using var request = new HttpRequestMessage(method, uri);
        HttpResponseMessage response;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            if (content is null && !RetryHandler.IsIdempotentMethod(method))
            {
                // A bodiless POST is still sent once: an empty body that can be written once, so no layer (nor the platform's
                // own resend on a dead pooled connection) can deliver it twice.
                request.Content = new SendOnceContent([], $"{method.Method} {uri.AbsolutePath}");
            }
            else if (content is not null)
            {
                // Buffered so that an idempotent request can be resent; the caller's content stays the caller's. A
                // non-idempotent body can be sent once only, whatever retry or hedging layer an app adds above.
                var bytes = await content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
                request.Content = RetryHandler.IsIdempotentMethod(method) ? new ByteArrayContent(bytes) : new SendOnceContent(bytes, $"{method.Method} {uri.AbsolutePath}");
                foreach (var header in content.Headers)
                {
                    if (!header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    {
                        request.Content.Headers.TryAddWithoutValidation(header.Key, header.Value);
                    }
                }
            }

            if (_userToken is { } token)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            if (Settings.AllocationToken is { } allocation)
            {
                request.Headers.TryAddWithoutValidation(AllocationTokenHeader, "Bearer " + allocation);
            }

            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && (deadline.IsExpired || ex is TaskCanceledException { InnerException: TimeoutException } || IsResilienceTimeout(ex)))
        {
            deadline.Dispose();
            if (RetryHandler.LastUnreachable(request) is { } down)
            {
                // The whole Timeout went by waiting for a master that could not be reached: that is the error, not a timeout.
                Record(activity, method, started, ("error.type", down.Error.ToString()));
                throw WithSource(down, $" Kept trying for {Settings.Timeout.TotalSeconds:0.###} s (DeterminedClientOptions.Timeout, config Determined:Timeout); nothing was sent.");
            }

            Record(activity, method, started, ("error.type", "DeadlineExceeded"));
            throw deadline.Expired(ConnectionProgress.Phase(request), ex);
        }
        catch (Exception ex)
        {
            deadline.Dispose();
            var connection = ex as MasterConnectionException;
            Record(activity, method, started, ("error.type", connection?.Error.ToString() ?? ex.GetType().Name));
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            if (connection is not null && ConnectionProgress.IsUnreachable(connection.Error))
            {
                throw WithSource(connection, string.Empty);
            }

            throw;
        }

        Record(activity, method, started, ("http.response.status_code", (int)response.StatusCode));
        response.Content = new BoundedContent(response.Content, Settings.MaxResponseBytes, deadline);
        return response;
    }

    /// <summary>
    /// A failure to reach the master, with where its URL came from (an option, a configuration key, DET_MASTER,
    /// DET_MASTER_ADDR or the default), which the connection layer cannot know. Class, fix and cause are kept.
    /// </summary>
    private MasterConnectionException WithSource(MasterConnectionException failure, string more)
    {
        // Settings always name the URL's source (SettingsResolver records MasterUrl first of all).
        var setting = Settings.Provenance.First(p => p.Name == "MasterUrl");
        var source = setting.Origin switch
        {
            SettingOrigin.Environment => $"the environment variable {setting.Location}",
            SettingOrigin.Configuration => $"the configuration key {setting.Location}",
            SettingOrigin.Default => "the default localhost:8080 (none of DeterminedClientOptions.MasterUrl, DET_MASTER or DET_MASTER_ADDR is set)",
            _ => setting.Location,
        };
        var message = failure.Message.Replace(" Fix: ", $"{more} The master URL '{SafeText.Spaced(SafeText.Redact(setting.Value!))}' comes from {source}. Fix: ", StringComparison.Ordinal);
        return new MasterConnectionException(failure.Error, failure.Host, message, failure.SuggestedFix, null, failure.InnerException);
    }

    private void Record(Activity? activity, HttpMethod method, long started, (string Key, object Value) outcome)
    {
        activity?.SetTag(outcome.Key, outcome.Value);
        if (!_telemetry.Requests.Enabled && !_telemetry.Duration.Enabled)
        {
            // Nobody listens: no tag list, no boxing, and nothing more to compile in a task's start-up path.
            return;
        }

        var tags = new TagList { { "http.request.method", method.Method }, { outcome.Key, outcome.Value } };
        _telemetry.Requests.Add(1, tags);
        _telemetry.Duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the HTTP client when this instance created it.</summary>
    /// <param name="disposing">Whether managed resources are released.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing && _ownsHttpClient)
        {
            _http.Dispose();
        }
    }

    /// <summary>An app's own resilience handler timed out: the call's deadline, as far as the caller is concerned. Told by the
    /// type's name, which Polly 7 (Polly.dll) and Polly 8 (Polly.Core) share, and so that the fast path never loads Polly.</summary>
    private static bool IsResilienceTimeout(Exception ex) => ex.GetType().FullName == "Polly.Timeout.TimeoutRejectedException";
}
