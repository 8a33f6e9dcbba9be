using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Time.Testing;

namespace Determined.Sdk.Tests.Http;

/// <summary>How long a retry waits for a master's Retry-After: as asked, never negative, never beyond 30 seconds.</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class RetryAfterTests
{
    private static readonly DateTimeOffset Now = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<RetryConditionHeaderValue?, TimeSpan?> Cases => new()
    {
        { null, null },
        { new RetryConditionHeaderValue(TimeSpan.FromSeconds(5)), TimeSpan.FromSeconds(5) },
        { new RetryConditionHeaderValue(TimeSpan.FromSeconds(30)), TimeSpan.FromSeconds(30) },
        { new RetryConditionHeaderValue(TimeSpan.FromHours(2)), TimeSpan.FromSeconds(30) },
        { new RetryConditionHeaderValue(Now.AddSeconds(10)), TimeSpan.FromSeconds(10) },
        { new RetryConditionHeaderValue(Now.AddSeconds(-10)), TimeSpan.Zero },
        { new RetryConditionHeaderValue(Now.AddDays(1)), TimeSpan.FromSeconds(30) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RetryAfter_IsWhatTheMasterAsks_ClampedToZeroAndThirtySeconds(RetryConditionHeaderValue? header, TimeSpan? expected)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        response.Headers.RetryAfter = header;

        Assert.Equal(expected, RetryHandler.RetryAfter(response, new FakeTimeProvider(Now)));
    }

    [Fact]
    public void RetryAfter_NoResponse_IsNotAsked() => Assert.Null(RetryHandler.RetryAfter(null, new FakeTimeProvider(Now)));
}
