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
/// <c>Grpc-Metadata-x-allocation-token: Bearer $DET_SESSION_TOKEN</c>. Connection failures and 502/503/504 answers are
/// retried with bounded exponential backoff; TLS failures never are.
/// </remarks>
public class DeterminedClient : IDisposable
{
    /// <summary>The header that carries a task's allocation token.</summary>
    public const string AllocationTokenHeader = "Grpc-Metadata-x-allocation-token";

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
    public DeterminedClient(HttpClient httpClient, DeterminedConnectionSettings settings, ILogger<DeterminedClient>? logger = null, IMeterFactory? meterFactory = null)
        : this(httpClient, settings, logger, ownsHttpClient: false)
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

    private DeterminedClient(HttpClient httpClient, DeterminedConnectionSettings settings, ILogger? logger, bool ownsHttpClient)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(settings);
        _http = httpClient;
        _ownsHttpClient = ownsHttpClient;
        Settings = settings;
        _logger = logger ?? NullLogger.Instance;
        _time = TimeProvider.System;
        _userToken = settings.UserToken;
        _base = settings.MasterUri.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }

    /// <summary>Gets the effective settings, with the source of each value.</summary>
    public DeterminedConnectionSettings Settings { get; }

    /// <summary>Gets the master URL.</summary>
    public Uri MasterUri => Settings.MasterUri;

    /// <summary>
    /// Creates a client from the environment alone: inside a Determined task this needs no configuration
    /// (<c>DET_MASTER</c>, <c>DET_MASTER_CERT_FILE</c>, <c>DET_MASTER_CERT_NAME</c>, <c>DET_SESSION_TOKEN</c>, …).
    /// </summary>
    /// <param name="options">Explicit options that win over the environment, if any.</param>
    /// <param name="loggerFactory">Where the SDK logs; <see langword="null"/> for nowhere.</param>
    /// <returns>A client that owns its handler; dispose it.</returns>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A setting is invalid; every problem is listed with its fix.</exception>
    public static DeterminedClient FromEnvironment(DeterminedClientOptions? options = null, ILoggerFactory? loggerFactory = null) =>
        Create(options ?? new DeterminedClientOptions(), null, loggerFactory);

    internal static DeterminedClient Create(DeterminedClientOptions options, Func<string, string?>? getEnvironmentVariable, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory = null)
    {
        var factory = loggerFactory ?? NullLoggerFactory.Instance;
        var settings = DeterminedConnectionSettings.Resolve(options, getEnvironmentVariable, factory.CreateLogger("Determined.Sdk"));
        var handlerFactory = new MasterHttpHandlerFactory(
            new CertificateTrustResolver(settings.Policy ?? TlsPolicy.Create(settings.Tls), factory.CreateLogger<CertificateTrustResolver>()),
            factory.CreateLogger<MasterHttpHandlerFactory>());
        var http = new HttpClient(handlerFactory.CreateHandler(settings.MasterUri), disposeHandler: true)
        {
            BaseAddress = settings.MasterUri,
            Timeout = options.Timeout,
        };
        var client = new DeterminedClient(http, settings, factory.CreateLogger<DeterminedClient>(), ownsHttpClient: true);
        client._telemetry = meterFactory is null ? SdkTelemetry.Shared : new SdkTelemetry(meterFactory);
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
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
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
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
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
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
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
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
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
    /// Sends a request to any endpoint with authentication and retries, and returns the raw response (the caller
    /// checks the status and disposes it).
    /// </summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="path">The path under the master URL.</param>
    /// <param name="content">The body, if any (buffered so it can be retried).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The response.</returns>
    public virtual async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(path);
        byte[]? body = null;
        MediaTypeHeaderValue? contentType = null;
        if (content is not null)
        {
            body = await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            contentType = content.Headers.ContentType;
            content.Dispose();
        }

        var uri = new Uri(_base + "/" + path.TrimStart('/'));
        var maxRetries = Settings.Options.MaxRetries;
        using var activity = SdkTelemetry.ActivitySource.StartActivity("Determined " + method.Method, ActivityKind.Client);
        activity?.SetTag("http.request.method", method.Method);
        activity?.SetTag("url.path", uri.AbsolutePath);
        activity?.SetTag("server.address", uri.Host);
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(method, uri);
            if (body is not null)
            {
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = contentType;
            }

            if (_userToken is { } token)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            if (Settings.AllocationToken is { } allocation)
            {
                request.Headers.TryAddWithoutValidation(AllocationTokenHeader, "Bearer " + allocation);
            }

            string reason;
            try
            {
                var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode is not (HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout) || attempt >= maxRetries)
                {
                    Record(activity, method, started, ("http.response.status_code", (int)response.StatusCode));
                    return response;
                }

                reason = $"HTTP {(int)response.StatusCode}";
                response.Dispose();
            }
            catch (HttpRequestException ex) when (attempt < maxRetries && ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            {
                reason = ex.Message;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Record(activity, method, started, ("error.type", ex is MasterCertificateException m ? m.Error.ToString() : ex.GetType().Name));
                activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
                throw;
            }

            var delay = TimeSpan.FromMilliseconds(Settings.Options.RetryDelay.TotalMilliseconds * Math.Pow(2, attempt) * (0.8 + (Random.Shared.NextDouble() * 0.4)));
            Log.Retrying(_logger, method.Method, uri.AbsolutePath, reason, attempt + 1, maxRetries, (long)delay.TotalMilliseconds);
            _telemetry.Retries.Add(1, new KeyValuePair<string, object?>("http.request.method", method.Method));
            activity?.AddEvent(new ActivityEvent("retry", tags: new ActivityTagsCollection { ["reason"] = reason, ["attempt"] = attempt + 1 }));
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
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

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        int code = 0;
        string? reason = null;
        string? message = null;
        try
        {
            var envelope = JsonSerializer.Deserialize(text, SdkJsonContext.Default.ErrorEnvelope);
            code = envelope?.Error?.Code ?? envelope?.Code ?? 0;
            reason = envelope?.Error?.Reason;
            message = envelope?.Error?.Error ?? envelope?.Message;
        }
        catch (JsonException)
        {
            message = text.Length > 200 ? text[..200] : text;
        }

        var status = (int)response.StatusCode;
        var path = response.RequestMessage?.RequestUri?.AbsolutePath;
        var hint = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => " Fix: log in (det user login, DeterminedClient.LoginAsync) or provide a token (DET_USER_TOKEN, DeterminedClientOptions.Token); inside a task DET_SESSION_TOKEN is used.",
            HttpStatusCode.Forbidden => " Fix: use a user with the needed permissions.",
            _ => string.Empty,
        };
        throw new DeterminedApiException(response.StatusCode, code, reason, $"The master answered {method(response)} {path} with {status} {reason ?? response.ReasonPhrase}: {message}.{hint}");

        static string method(HttpResponseMessage r) => r.RequestMessage?.Method.Method ?? "the request";
    }
}
