using System.Diagnostics.Metrics;
using Determined.Security;
using Microsoft.Extensions.Logging;

namespace Determined.Sdk;

/// <summary>
/// The one composition of a client's HTTP pipeline, used by <see cref="DeterminedClient.FromEnvironment"/> and by
/// <c>AddDeterminedClient</c> alike: settings → <see cref="CertificateTrustResolver"/> → <see cref="MasterHttpHandlerFactory"/>
/// → the master's handler, under the SDK's <see cref="Sdk.RetryHandler"/>, in an <see cref="HttpClient"/> whose own timeout
/// is off (the client's deadline covers the whole call). Under dependency injection the app's handlers sit between the
/// retry layer and the master's handler, with <see cref="SendOnceHandler"/> innermost.
/// </summary>
internal static class ClientPipeline
{
    /// <summary>The category the SDK's settings resolution logs under.</summary>
    public const string LoggerCategory = "Determined.Sdk";

    /// <summary>The trust and handler factory of one client's settings.</summary>
    public static MasterHttpHandlerFactory HandlerFactory(DeterminedConnectionSettings settings, ILoggerFactory loggers, TimeProvider? timeProvider) =>
        new(new CertificateTrustResolver(settings.Tls, loggers.CreateLogger<CertificateTrustResolver>(), timeProvider), loggers.CreateLogger<MasterHttpHandlerFactory>());

    /// <summary>The handler that talks to the master (TLS, classification, reload).</summary>
    public static HttpMessageHandler PrimaryHandler(MasterHttpHandlerFactory factory, DeterminedConnectionSettings settings) =>
        factory.CreateHandler(settings.MasterUri);

    /// <summary>The SDK's retry layer with the settings' limits.</summary>
    public static RetryHandler RetryHandler(DeterminedConnectionSettings settings, ILoggerFactory loggers, SdkTelemetry telemetry) =>
        new(settings.MaxRetries, settings.RetryDelay, loggers.CreateLogger<DeterminedClient>(), telemetry, boundedByDeadline: settings.Timeout != Timeout.InfiniteTimeSpan);

    /// <summary>The SDK's meters: from the app's meter factory, or shared.</summary>
    public static SdkTelemetry Telemetry(IMeterFactory? meterFactory) => meterFactory is null ? SdkTelemetry.Shared : new SdkTelemetry(meterFactory);

    /// <summary>The HTTP client's base address, and no timeout of its own: the client's deadline (<see cref="DeterminedConnectionSettings.Timeout"/>) covers the whole call, the body included.</summary>
    public static HttpClient Configure(HttpClient http, DeterminedConnectionSettings settings)
    {
        http.BaseAddress = settings.MasterUri;
        http.Timeout = Timeout.InfiniteTimeSpan;
        return http;
    }
}
