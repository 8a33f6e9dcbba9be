using System.Net;
using Determined.Security;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Sdk.Tests.Http;

/// <summary>
/// The retry layer's rule for a master that could not be reached, against a scripted inner handler: failures before any
/// byte was sent are retried until the deadline for every method (a non-idempotent body only while it was never
/// written); a connection that ended after the request may have reached the master is retried for idempotent requests
/// only; an unresolvable name, a proxy failure and certificate errors are not retried; MaxRetries = 0 retries nothing.
/// </summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class UnreachableRetryTests
{
    private static MasterConnectionException Failure(MasterConnectionError error, HttpRequestError category) =>
        new(error, "master", $"Cannot reach the master ({error})", "fix", null, new HttpRequestException(category, "x"));

    private static (HttpMessageInvoker Invoker, Func<int> Attempts) Pipeline(int failures, Func<MasterConnectionException> failure, int maxRetries = 3, TimeSpan? delay = null, Action<HttpRequestMessage>? onSend = null)
    {
        var attempts = 0;
        var inner = new Scripted(request =>
        {
            onSend?.Invoke(request);
            return ++attempts <= failures ? throw failure() : new HttpResponseMessage(HttpStatusCode.OK);
        });
        var retry = new RetryHandler(maxRetries, delay ?? TimeSpan.FromMilliseconds(1), NullLogger.Instance, SdkTelemetry.Shared) { InnerHandler = inner };
        return (new HttpMessageInvoker(retry), () => attempts);
    }

    [Theory]
    [InlineData(MasterConnectionError.ConnectionRefused)]
    [InlineData(MasterConnectionError.ConnectTimeout)]
    [InlineData(MasterConnectionError.NetworkUnreachable)]
    public async Task NothingSent_PostIsRetriedPastMaxRetries_UntilTheMasterAnswers(MasterConnectionError error)
    {
        var (invoker, attempts) = Pipeline(failures: 6, () => Failure(error, HttpRequestError.ConnectionError), maxRetries: 1);
        using var _ = invoker;
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://master/api/v1/task/logs") { Content = new SendOnceContent([1, 2], "POST /api/v1/task/logs") };

        using var response = await invoker.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(7, attempts());
    }

    [Fact]
    public async Task ClosedAfterTheRequestCouldBeWritten_GetIsRetried_PostIsNot()
    {
        var (getInvoker, getAttempts) = Pipeline(failures: 2, () => Failure(MasterConnectionError.ConnectionClosed, HttpRequestError.ResponseEnded));
        using (getInvoker)
        {
            using var get = new HttpRequestMessage(HttpMethod.Get, "http://master/info");
            using var ok = await getInvoker.SendAsync(get, CancellationToken.None);
            Assert.Equal(3, getAttempts());
        }

        var (postInvoker, postAttempts) = Pipeline(failures: 2, () => Failure(MasterConnectionError.ConnectionClosed, HttpRequestError.ResponseEnded));
        using (postInvoker)
        {
            using var post = new HttpRequestMessage(HttpMethod.Post, "http://master/api/v1/commands") { Content = new SendOnceContent([1], "POST /api/v1/commands") };
            var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => postInvoker.SendAsync(post, CancellationToken.None));
            Assert.Equal(MasterConnectionError.ConnectionClosed, ex.Error);
            Assert.Equal(1, postAttempts());
        }
    }

    [Fact]
    public async Task ABodyThatWasWritten_IsNeverRearmed_EvenWhenTheFailureSaysNothingWasSent()
    {
        // Belt and braces: if a layer misreports a failure as "before sending", a body that went out is still never resent.
        var (invoker, attempts) = Pipeline(failures: 3, () => Failure(MasterConnectionError.ConnectionRefused, HttpRequestError.ConnectionError), onSend: request =>
        {
            using var sink = new MemoryStream();
            request.Content!.CopyTo(sink, null, CancellationToken.None);
        });
        using var _ = invoker;
        using var post = new HttpRequestMessage(HttpMethod.Post, "http://master/api/v1/commands") { Content = new SendOnceContent([1], "POST /api/v1/commands") };

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => invoker.SendAsync(post, CancellationToken.None));

        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
        Assert.Equal(1, attempts());
    }

    [Theory]
    [InlineData(MasterConnectionError.NameNotResolved)]
    [InlineData(MasterConnectionError.ProxyFailed)]
    [InlineData(MasterConnectionError.UntrustedRoot)]
    public async Task NotTransient_IsNotRetriedUntilTheDeadline(MasterConnectionError error)
    {
        var (invoker, attempts) = Pipeline(failures: 1, () => Failure(error, HttpRequestError.ConnectionError));
        using var _ = invoker;
        using var get = new HttpRequestMessage(HttpMethod.Get, "http://master/info");

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => invoker.SendAsync(get, CancellationToken.None));

        Assert.Equal(error, ex.Error);
        Assert.Equal(1, attempts());
    }

    [Fact]
    public async Task MaxRetriesZero_RetriesNothing()
    {
        var (invoker, attempts) = Pipeline(failures: 1, () => Failure(MasterConnectionError.ConnectionRefused, HttpRequestError.ConnectionError), maxRetries: 0);
        using var _ = invoker;
        using var get = new HttpRequestMessage(HttpMethod.Get, "http://master/info");

        await Assert.ThrowsAsync<MasterConnectionException>(() => invoker.SendAsync(get, CancellationToken.None));

        Assert.Equal(1, attempts());
    }

    [Fact]
    public async Task ZeroRetryDelay_StillWaitsBetweenAttempts_AndTheDeadlineEndsTheWait()
    {
        var (invoker, attempts) = Pipeline(failures: int.MaxValue, () => Failure(MasterConnectionError.ConnectionRefused, HttpRequestError.ConnectionError), delay: TimeSpan.Zero);
        using var _ = invoker;
        using var get = new HttpRequestMessage(HttpMethod.Get, "http://master/info");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => invoker.SendAsync(get, deadline.Token));

        // 100 ms, then up to 2 s apart (with jitter): a handful of attempts in a second, never a storm.
        Assert.InRange(attempts(), 2, 12);
        Assert.Equal(MasterConnectionError.ConnectionRefused, RetryHandler.LastUnreachable(get)?.Error);
    }

    [Fact]
    public async Task AGetWhoseConnectionDiedMidRequest_ThenTheMasterIsDown_IsRetriedAcrossBothUntilItAnswers()
    {
        // A master killed while a GET was in flight (ConnectionClosed, may have been sent: idempotent, so resent), then
        // refusing while it restarts (nothing sent): one wait, through whichever retry path the attempt is on.
        var attempts = 0;
        var inner = new Scripted(_ => ++attempts switch
        {
            1 => throw Failure(MasterConnectionError.ConnectionClosed, HttpRequestError.ResponseEnded),
            2 or 3 => throw Failure(MasterConnectionError.ConnectionRefused, HttpRequestError.ConnectionError),
            _ => new HttpResponseMessage(HttpStatusCode.OK),
        });
        using var invoker = new HttpMessageInvoker(new RetryHandler(1, TimeSpan.FromMilliseconds(1), NullLogger.Instance, SdkTelemetry.Shared) { InnerHandler = inner });
        using var get = new HttpRequestMessage(HttpMethod.Get, "http://master/info");

        using var response = await invoker.SendAsync(get, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4, attempts);
        Assert.Null(RetryHandler.LastUnreachable(get));
    }

    [Fact]
    public async Task PostWithABodyThatCannotProveItWasNotWritten_IsNotRetried()
    {
        var (invoker, attempts) = Pipeline(failures: 1, () => Failure(MasterConnectionError.ConnectionRefused, HttpRequestError.ConnectionError));
        using var _ = invoker;
        using var post = new HttpRequestMessage(HttpMethod.Post, "http://master/api/v1/commands") { Content = new StringContent("{}") };

        await Assert.ThrowsAsync<MasterConnectionException>(() => invoker.SendAsync(post, CancellationToken.None));

        Assert.Equal(1, attempts());
    }

    [Theory]
    [InlineData("the TCP connection", "it timed out during the TCP connection to the master", "reachable from here")]
    [InlineData("the TLS handshake", "it timed out during the TLS handshake", "the master's TLS port")]
    [InlineData("waiting for the response headers", "it timed out while waiting for the response headers: the request was sent", "the master's load and logs")]
    [InlineData("reading the response body", "it timed out while reading the response body", "raise Timeout for large answers")]
    [InlineData(null, "it timed out before the connection was established", "check that the master is up")]
    public void DeadlineMessage_NamesThePhaseAndItsFix(string? phase, string during, string fix)
    {
        using var deadline = new CallDeadline(TimeSpan.FromSeconds(3), TimeProvider.System, "https://m:8443", "GET /info");

        var ex = deadline.Expired(phase, null);

        Assert.Equal("DeadlineExceeded", ex.Reason);
        Assert.StartsWith("GET /info to the master https://m:8443 did not complete within 3 s", ex.Message, StringComparison.Ordinal);
        Assert.Contains(during, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(fix, ex.Message, StringComparison.Ordinal);
        Assert.True(ex.IsTransient);
    }

    [Theory]
    [InlineData("the TCP connection")]
    [InlineData("the TLS handshake")]
    [InlineData("waiting for the response headers")]
    [InlineData(null)]
    public async Task DeadlineDuringTheNextAttempt_ClaimsNothing_WhateverPhaseThatAttemptRecorded(string? phase)
    {
        // A refusal, then an attempt that stalls in the given phase (null: on a pooled connection) until the deadline. The
        // phase is recorded on the request that opened a connection, which need not be the one sent on it: it never proves
        // that nothing was sent, so only a deadline in the wait between attempts keeps the refusal (the test above).
        var attempts = 0;
        var inner = new Stalling(request =>
        {
            if (++attempts == 1)
            {
                throw Failure(MasterConnectionError.ConnectionRefused, HttpRequestError.ConnectionError);
            }

            if (phase is not null)
            {
                ConnectionProgress.Enter(request, phase);
            }
        });
        using var invoker = new HttpMessageInvoker(new RetryHandler(3, TimeSpan.FromMilliseconds(1), NullLogger.Instance, SdkTelemetry.Shared) { InnerHandler = inner });
        using var post = new HttpRequestMessage(HttpMethod.Post, "http://master/api/v1/commands") { Content = new SendOnceContent([1], "POST /api/v1/commands") };
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => invoker.SendAsync(post, deadline.Token));

        Assert.Equal(2, attempts);
        Assert.Null(RetryHandler.LastUnreachable(post));
    }

    /// <summary>Runs <paramref name="enter"/> (which may throw), then waits until the request is cancelled.</summary>
    private sealed class Stalling(Action<HttpRequestMessage> enter) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            enter(request);
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }

    private sealed class Scripted(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(answer(request));
    }
}
