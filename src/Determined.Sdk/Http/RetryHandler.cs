using System.Net;
using Determined.Security;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Determined.Sdk;

/// <summary>
/// The SDK's one retry layer, a Polly v8 retry strategy in the HTTP pipeline (under the client, over the TLS handler).
/// Retried until the call's deadline: a master that could not be reached before any byte of the request was sent
/// (refused, reset or closed before TLS, connect timeout, network unreachable: <see cref="MasterConnectionException.IsTransient"/>),
/// for every method, POST included, with jittered exponential backoff up to 2 s; so a client started before its master,
/// or calling through a restart, succeeds once the master is up within <see cref="DeterminedClientOptions.Timeout"/>.
/// Retried <see cref="DeterminedClientOptions.MaxRetries"/> times: 502/503/504 answers and other connection failures, for
/// idempotent requests only (GET, HEAD, OPTIONS, PUT, DELETE, and requests the client marks with <see cref="IdempotentKey"/>),
/// honouring <c>Retry-After</c> (at most 30 s). Never retried: TLS and certificate failures, an unresolvable name, a proxy
/// failure, other statuses, and a request that may have reached the master unless it is idempotent (a command launched
/// twice is worse than an error). <c>MaxRetries = 0</c> turns every retry off.
/// With <c>services.AddDeterminedClient().AddStandardResilienceHandler()</c> this layer steps aside (one layer, not two).
/// </summary>
internal sealed class RetryHandler : DelegatingHandler
{
    internal static readonly HttpRequestOptionsKey<bool> IdempotentKey = new("Determined.Idempotent");

    private static readonly TimeSpan s_maxRetryAfter = TimeSpan.FromSeconds(30);

    private readonly int _maxRetries;
    private readonly bool _boundedByDeadline;
    private readonly TimeSpan _delay;
    private readonly ILogger _logger;
    private readonly SdkTelemetry _telemetry;
    private readonly TimeProvider? _time;

    // Built on the first retry: a call that succeeds at once (nearly all) never loads or compiles Polly, which keeps it
    // off a task's start-up path. Typed object so that loading this class does not load Polly either.
    private object? _pipeline;

    /// <param name="maxRetries">Retries of 502/503/504 and other idempotent failures; 0 turns every retry off.</param>
    /// <param name="delay">The first retry's delay.</param>
    /// <param name="logger">Where retries are logged.</param>
    /// <param name="telemetry">Where retries are counted.</param>
    /// <param name="time">The clock of the waits.</param>
    /// <param name="boundedByDeadline">Whether every call has a deadline (Timeout is not infinite): a master that is not up is
    /// then waited for until it; without one, only <paramref name="maxRetries"/> times.</param>
    public RetryHandler(int maxRetries, TimeSpan delay, ILogger logger, SdkTelemetry telemetry, TimeProvider? time = null, bool boundedByDeadline = true)
    {
        _boundedByDeadline = boundedByDeadline;
        _maxRetries = maxRetries;
        _delay = delay;
        _logger = logger;
        _telemetry = telemetry;
        _time = time;
    }

    private ResiliencePipeline<HttpResponseMessage> Pipeline()
    {
        if (_pipeline is ResiliencePipeline<HttpResponseMessage> built)
        {
            return built;
        }

        var (maxRetries, logger, telemetry, time) = (_maxRetries, _logger, _telemetry, _time);
        var options = new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = maxRetries,
            Delay = _delay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Context, args.Outcome)),
            DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, time ?? TimeProvider.System)),
            OnRetry = args =>
            {
                var request = args.Context.Properties.GetValue(Keys.Request, null!);
                var reason = args.Outcome.Exception?.Message ?? $"HTTP {(int)args.Outcome.Result!.StatusCode}";
                Log.Retrying(logger, request.Method.Method, request.RequestUri?.AbsolutePath ?? string.Empty, reason, args.AttemptNumber + 1, maxRetries, (long)args.RetryDelay.TotalMilliseconds);
                telemetry.Retries.Add(1, new KeyValuePair<string, object?>("http.request.method", request.Method.Method));
                System.Diagnostics.Activity.Current?.AddEvent(new System.Diagnostics.ActivityEvent("retry", tags: new System.Diagnostics.ActivityTagsCollection { ["reason"] = reason, ["attempt"] = args.AttemptNumber + 1 }));
                return ValueTask.CompletedTask;
            },
        };
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (time is not null)
        {
            builder.TimeProvider = time;
        }

        var pipeline = builder.AddRetry(options).Build();
        _pipeline = pipeline;
        return pipeline;
    }

    internal static bool IsIdempotentMethod(HttpMethod method) =>
        method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Options || method == HttpMethod.Put || method == HttpMethod.Delete;

    internal static bool IsIdempotent(HttpRequestMessage request) =>
        IsIdempotentMethod(request.Method) || (request.Options.TryGetValue(IdempotentKey, out var marked) && marked);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage? response = null;
        Exception? error = null;
        try
        {
            response = await SendWaitingForMasterAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (_maxRetries > 0 && IsRetryable(request, ex, cancellationToken))
        {
            error = ex;
        }

        if (response is not null && (_maxRetries <= 0 || !IsRetryable(request, response)))
        {
            return response;
        }

        return await RetryAsync(request, response, error, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One attempt, repeated while the master cannot be reached and the request may be sent again (see
    /// <see cref="IsRetryableUntilDeadline"/>): the first attempt and every retry of the strategy go through it.
    /// </summary>
    private async Task<HttpResponseMessage> SendWaitingForMasterAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        for (var unreachable = 0; ; unreachable++)
        {
            try
            {
                // An attempt that gets further than the last one may have reached the master: the earlier "nothing was
                // sent" no longer describes the call.
                ForgetUnreachable(request);
                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (MasterConnectionException ex) when (_maxRetries > 0 && !cancellationToken.IsCancellationRequested && (_boundedByDeadline || unreachable < _maxRetries) && IsRetryableUntilDeadline(request, ex))
            {
                // The master is down, restarting or not yet up: wait and try again until the call's deadline (DeterminedClient
                // reports this failure, not a bare timeout, when the deadline ends it).
                if (!ConnectionProgress.RequestMayHaveBeenSent(ex))
                {
                    LastUnreachable(request, ex);
                }

                var delay = UnreachableBackoff(unreachable);
                Log.WaitingForMaster(_logger, request.Method.Method, request.RequestUri!.AbsolutePath, ex.Error, (long)delay.TotalMilliseconds, unreachable + 1);
                _telemetry.Retries.Add(1, new KeyValuePair<string, object?>("http.request.method", request.Method.Method));
                await Task.Delay(delay, _time ?? TimeProvider.System, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The slow path: the first attempt's outcome goes through the Polly retry strategy, which waits and resends.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private async Task<HttpResponseMessage> RetryAsync(HttpRequestMessage request, HttpResponseMessage? firstResponse, Exception? firstError, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(Keys.Request, request);
        var state = new Attempts(this, request, firstResponse, firstError);
        try
        {
            var outcome = await Pipeline().ExecuteOutcomeAsync(
                static async (ctx, attempts) =>
                {
                    if (attempts.TakeFirst() is { } first)
                    {
                        return first;
                    }

                    try
                    {
                        return Outcome.FromResult(await attempts.Handler.SendOnceAsync(attempts.Request, ctx.CancellationToken).ConfigureAwait(false));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<HttpResponseMessage>(ex);
                    }
                },
                context,
                state).ConfigureAwait(false);
            outcome.ThrowIfException();
            return outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>
    /// A master that refused, reset, timed out or was unreachable before any byte of the request was sent: every method
    /// may be sent again (a non-idempotent body only if not one byte of it was ever written); a connection that ended
    /// after the request may have reached the master only for idempotent requests.
    /// </summary>
    private static bool IsRetryableUntilDeadline(HttpRequestMessage request, MasterConnectionException failure)
    {
        if (!failure.IsTransient)
        {
            return false;
        }

        if (ConnectionProgress.RequestMayHaveBeenSent(failure))
        {
            return IsIdempotent(request);
        }

        // Idempotent: any attempt may be repeated. Otherwise only a body that can prove it was never written (the platform
        // resends a request by itself when a pooled connection dies, and that resend may be what was refused).
        return IsIdempotent(request) || (request.Content is SendOnceContent once && once.TryRearmUnsent());
    }

    private static readonly HttpRequestOptionsKey<MasterConnectionException> s_lastUnreachable = new("Determined.LastUnreachable");

    private static void LastUnreachable(HttpRequestMessage request, MasterConnectionException failure) => request.Options.Set(s_lastUnreachable, failure);

    private static void ForgetUnreachable(HttpRequestMessage request) => ((IDictionary<string, object?>)request.Options).Remove(s_lastUnreachable.Key);

    /// <summary>The last failure to reach the master before the request's deadline ended its retries, if any.</summary>
    internal static MasterConnectionException? LastUnreachable(HttpRequestMessage request) =>
        request.Options.TryGetValue(s_lastUnreachable, out var failure) ? failure : null;

    private static readonly TimeSpan s_minUnreachableDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>Exponential from <see cref="DeterminedClientOptions.RetryDelay"/> (at least 100 ms), at most 2 s, with jitter (between half and all of it).</summary>
    private TimeSpan UnreachableBackoff(int attempt)
    {
        var baseDelay = _delay > s_minUnreachableDelay ? _delay : s_minUnreachableDelay;
        var capped = Math.Min(baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 10)), 2000);
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() / 2)));
    }

    private static bool IsRetryable(HttpRequestMessage request, HttpResponseMessage response) =>
        response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout && IsIdempotent(request);

    private static bool IsRetryable(HttpRequestMessage request, HttpRequestException error, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && error.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError && IsIdempotent(request);

    /// <summary>Polly-typed statics live here, so that touching the handler's own statics never loads Polly.</summary>
    private static class Keys
    {
        public static readonly ResiliencePropertyKey<HttpRequestMessage> Request = new("Determined.Request");
    }

    /// <summary>The first attempt, already made on the fast path, handed to the retry strategy once.</summary>
    private sealed class Attempts(RetryHandler handler, HttpRequestMessage request, HttpResponseMessage? response, Exception? error)
    {
        private bool _taken;

        public RetryHandler Handler { get; } = handler;

        public HttpRequestMessage Request { get; } = request;

        public Outcome<HttpResponseMessage>? TakeFirst()
        {
            if (_taken)
            {
                return null;
            }

            _taken = true;
            return error is not null ? Outcome.FromException<HttpResponseMessage>(error) : Outcome.FromResult(response!);
        }
    }

    private Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, CancellationToken cancellationToken) => SendWaitingForMasterAsync(request, cancellationToken);

    /// <summary>The retry strategy's predicate: the same rule as the first attempt's (<see cref="IsRetryable(HttpRequestMessage, HttpResponseMessage)"/>).</summary>
    private static bool ShouldRetry(ResilienceContext context, Outcome<HttpResponseMessage> outcome) =>
        context.Properties.TryGetValue(Keys.Request, out var request)
        && (outcome.Exception is null
            ? !context.CancellationToken.IsCancellationRequested && IsRetryable(request, outcome.Result!)
            : outcome.Exception is HttpRequestException http && IsRetryable(request, http, context.CancellationToken));

    internal static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeProvider time)
    {
        if (response?.Headers.RetryAfter is not { } retryAfter)
        {
            return null;
        }

        var wait = retryAfter.Delta ?? (retryAfter.Date is { } date ? date - time.GetUtcNow() : TimeSpan.Zero);
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > s_maxRetryAfter ? s_maxRetryAfter : wait;
    }
}
