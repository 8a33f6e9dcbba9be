using System.Net;
using Determined.Security;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Determined.Sdk;

/// <summary>
/// The SDK's one retry layer, a Polly v8 retry strategy in the HTTP pipeline (under the client, over the TLS handler).
/// Retried: connection failures (refused, reset, name resolution) and 502/503/504 answers, for idempotent requests only
/// (GET, HEAD, OPTIONS, PUT, DELETE, and requests the client marks with <see cref="IdempotentKey"/>), with exponential
/// backoff and jitter, honouring <c>Retry-After</c> (at most 30 s). Never retried: TLS and certificate failures, other
/// statuses, POSTs (a command launched twice is worse than an error). The call's deadline bounds every attempt and wait.
/// With <c>services.AddDeterminedClient().AddStandardResilienceHandler()</c> this layer steps aside (one layer, not two).
/// </summary>
internal sealed class RetryHandler : DelegatingHandler
{
    internal static readonly HttpRequestOptionsKey<bool> IdempotentKey = new("Determined.Idempotent");

    private static readonly ResiliencePropertyKey<HttpRequestMessage> s_request = new("Determined.Request");
    private static readonly TimeSpan s_maxRetryAfter = TimeSpan.FromSeconds(30);

    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    public RetryHandler(int maxRetries, TimeSpan delay, ILogger logger, SdkTelemetry telemetry, TimeProvider? time = null)
    {
        if (maxRetries <= 0)
        {
            _pipeline = ResiliencePipeline<HttpResponseMessage>.Empty;
            return;
        }

        var options = new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = maxRetries,
            Delay = delay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Context, args.Outcome)),
            DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, time ?? TimeProvider.System)),
            OnRetry = args =>
            {
                var request = args.Context.Properties.GetValue(s_request, null!);
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

        _pipeline = builder.AddRetry(options).Build();
    }

    internal static bool IsIdempotent(HttpRequestMessage request) =>
        request.Method == HttpMethod.Get || request.Method == HttpMethod.Head || request.Method == HttpMethod.Options
        || request.Method == HttpMethod.Put || request.Method == HttpMethod.Delete
        || (request.Options.TryGetValue(IdempotentKey, out var marked) && marked);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(s_request, request);
        try
        {
            var outcome = await _pipeline.ExecuteOutcomeAsync(
                static async (ctx, state) =>
                {
                    try
                    {
                        return Outcome.FromResult(await state.Handler.SendOnceAsync(state.Request, ctx.CancellationToken).ConfigureAwait(false));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<HttpResponseMessage>(ex);
                    }
                },
                context,
                (Handler: this, Request: request)).ConfigureAwait(false);
            outcome.ThrowIfException();
            return outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, CancellationToken cancellationToken) => base.SendAsync(request, cancellationToken);

    private static bool ShouldRetry(ResilienceContext context, Outcome<HttpResponseMessage> outcome)
    {
        if (context.CancellationToken.IsCancellationRequested || !context.Properties.TryGetValue(s_request, out var request) || !IsIdempotent(request))
        {
            return false;
        }

        return outcome.Exception switch
        {
            null => outcome.Result!.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout,
            MasterCertificateException => false,
            HttpRequestException http => http.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError,
            _ => false,
        };
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeProvider time)
    {
        if (response?.Headers.RetryAfter is not { } retryAfter)
        {
            return null;
        }

        var wait = retryAfter.Delta ?? (retryAfter.Date is { } date ? date - time.GetUtcNow() : TimeSpan.Zero);
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > s_maxRetryAfter ? s_maxRetryAfter : wait;
    }
}
