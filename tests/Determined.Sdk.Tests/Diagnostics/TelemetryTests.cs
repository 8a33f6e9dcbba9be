using System.Diagnostics;
using Determined.Testing;

namespace Determined.Sdk.Tests.Diagnostics;

public sealed class TelemetryTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task ClientCalls_RecordRequestsDurationRetriesAndActivities()
    {
        await using var master = await FakeMaster.StartAsync(null);
        using var meters = new TestMeterFactory();
        using var metrics = new MeterCapture("Determined.Sdk", meters);
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Determined.Sdk",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (activities) { activities.Add(a); } },
        };
        ActivitySource.AddActivityListener(listener);
        using var client = DeterminedClient.Create(new() { MasterUrl = master.Uri.ToString(), RetryDelay = TimeSpan.FromMilliseconds(5), UseTokenStore = false }, _ => null, null, meters);

        await client.GetFromJsonAsync("flaky", SdkJsonContext.Default.MasterInfo);
        await Assert.ThrowsAsync<DeterminedApiException>(() => client.GetCurrentUserAsync());

        Assert.Equal(1, metrics.Sum("determined.sdk.requests", "http.response.status_code", 200));
        Assert.Equal(1, metrics.Sum("determined.sdk.requests", "http.response.status_code", 401));
        Assert.Equal(2, metrics.Sum("determined.sdk.retries", "http.request.method", "GET"));
        Assert.Contains(metrics.Measurements, m => m.Instrument == "determined.sdk.request.duration" && m.Value > 0);
        lock (activities)
        {
            var flaky = Assert.Single(activities, a => (string?)a.GetTagItem("url.path") == "/flaky" && (string?)a.GetTagItem("server.address") == master.Uri.Host && a.Events.Any());
            Assert.Equal("Determined GET", flaky.DisplayName);
            Assert.Equal(2, flaky.Events.Count(e => e.Name == "retry"));
            Assert.Equal(200, flaky.GetTagItem("http.response.status_code"));
        }
    }
}
