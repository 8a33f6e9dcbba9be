using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Determined.Sdk;

/// <summary>
/// The <c>Determined.Sdk</c> meter and activity source. Instruments: <c>determined.sdk.requests</c> (tags
/// <c>http.request.method</c>, <c>http.response.status_code</c> or <c>error.type</c>), <c>determined.sdk.request.duration</c>
/// (seconds, same tags), <c>determined.sdk.retries</c>. Activities: <c>Determined {METHOD}</c> per client call.
/// </summary>
internal sealed class SdkTelemetry
{
    public const string Name = "Determined.Sdk";

    public static readonly ActivitySource ActivitySource = new(Name, typeof(SdkTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly Meter s_sharedMeter = new(Name, typeof(SdkTelemetry).Assembly.GetName().Version?.ToString());

    public SdkTelemetry(IMeterFactory? meterFactory)
    {
        var meter = meterFactory?.Create(Name) ?? s_sharedMeter;
        Requests = meter.CreateCounter<long>("determined.sdk.requests", "{request}", "Requests sent to the master.");
        Duration = meter.CreateHistogram<double>("determined.sdk.request.duration", "s", "Duration of requests to the master, retries included.");
        Retries = meter.CreateCounter<long>("determined.sdk.retries", "{retry}", "Requests retried after a transient failure.");
    }

    public static SdkTelemetry Shared { get; } = new(null);

    public Counter<long> Requests { get; }

    public Histogram<double> Duration { get; }

    public Counter<long> Retries { get; }
}
