using Determined;
using Determined.Sdk;
using Determined.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="DeterminedClient"/> with <c>IHttpClientFactory</c>.</summary>
public static class DeterminedServiceCollectionExtensions
{
    /// <summary>The name of the HTTP client used by <see cref="DeterminedClient"/>.</summary>
    public const string HttpClientName = "Determined";

    /// <summary>
    /// Adds a <see cref="DeterminedClient"/> configured from the <c>Determined</c> configuration section (when an
    /// <see cref="IConfiguration"/> is registered) and the <c>DET_*</c> environment; inside a Determined task nothing
    /// else is needed. Settings are validated at start, with every problem listed. Calling it again is harmless.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The HTTP client builder, to add handlers or resilience.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services) => AddCore(services, null, null);

    /// <summary>Adds a <see cref="DeterminedClient"/> and configures its options in code (applied after configuration binding).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets options.</param>
    /// <returns>The HTTP client builder.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services, Action<DeterminedClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddCore(services, configure, null);
    }

    /// <summary>Adds a <see cref="DeterminedClient"/> whose options are bound from the given configuration section.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section holding <see cref="DeterminedClientOptions"/> (e.g. <c>configuration.GetSection("Determined")</c>).</param>
    /// <returns>The HTTP client builder.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddCore(services, null, configuration);
    }

    private static IHttpClientBuilder AddCore(IServiceCollection services, Action<DeterminedClientOptions>? configure, IConfiguration? section)
    {
        ArgumentNullException.ThrowIfNull(services);
        var first = !services.Any(d => d.ServiceType == typeof(DeterminedRegistration));
        if (first)
        {
            services.AddSingleton(new DeterminedRegistration());
            services.AddOptions<DeterminedClientOptions>().ValidateOnStart();
            services.TryAddSingleton(new DeterminedEnvironment());
            services.AddSingleton<IValidateOptions<DeterminedClientOptions>, DeterminedClientOptionsValidator>();
            services.TryAddSingleton(sp => DeterminedClientServices.Settings(sp));
            services.TryAddSingleton(sp => DeterminedClientServices.HandlerFactory(sp));
        }

        if (first)
        {
            // One retry layer: when the app adds its own resilience handler (AddStandardResilienceHandler,
            // AddResilienceHandler), the SDK's retry handler steps aside. Post-configured, so it runs after every handler
            // the app added to this client.
            services.PostConfigure<HttpClientFactoryOptions>(HttpClientName, o => o.HttpMessageHandlerBuilderActions.Add(b =>
            {
                if (b.AdditionalHandlers.Any(h => h is not RetryHandler && h.GetType().FullName == "Microsoft.Extensions.Http.Resilience.ResilienceHandler"))
                {
                    foreach (var ours in b.AdditionalHandlers.OfType<RetryHandler>().ToList())
                    {
                        b.AdditionalHandlers.Remove(ours);
                        ours.Dispose();
                    }
                }

                // Innermost, under every layer the app added: a non-idempotent request is never sent twice.
                b.AdditionalHandlers.Add(new SendOnceHandler());
            }));
        }

        var registration = (DeterminedRegistration)services.First(d => d.ServiceType == typeof(DeterminedRegistration)).ImplementationInstance!;
        if (section is not null)
        {
            registration.Section = section;
            services.Configure<DeterminedClientOptions>(o => section.Bind(o));
        }
        else if (first)
        {
            services.AddSingleton<IConfigureOptions<DeterminedClientOptions>>(sp => new ConfigureFromDefaultSection(sp.GetService<IConfiguration>(), registration));
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        var builder = services.AddHttpClient<DeterminedClient>(HttpClientName);
        if (first)
        {
            builder
                .ConfigureHttpClient((sp, http) =>
                {
                    var settings = sp.GetRequiredService<DeterminedConnectionSettings>();
                    http.BaseAddress = settings.MasterUri;
                    // DeterminedClient's own deadline (Options.Timeout) covers the whole call, retries and body included.
                    http.Timeout = Timeout.InfiniteTimeSpan;
                })
                .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<MasterHttpHandlerFactory>().CreateHandler(sp.GetRequiredService<DeterminedConnectionSettings>().MasterUri))
                .AddHttpMessageHandler(sp =>
                {
                    var settings = sp.GetRequiredService<DeterminedConnectionSettings>();
                    var logger = sp.GetService<ILoggerFactory>()?.CreateLogger<DeterminedClient>() ?? (ILogger)NullLogger.Instance;
                    var meters = sp.GetService<System.Diagnostics.Metrics.IMeterFactory>();
                    return new RetryHandler(settings.Options.MaxRetries, settings.Options.RetryDelay, logger, meters is null ? SdkTelemetry.Shared : new SdkTelemetry(meters));
                })
                // The handler is long-lived by design: it reloads changed trust material itself and recycles pooled
                // connections every 5 minutes, so the factory's 2-minute handler rotation would only cost handshakes.
                .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        }

        return builder;
    }

    private sealed class ConfigureFromDefaultSection(IConfiguration? configuration, DeterminedRegistration registration) : IConfigureOptions<DeterminedClientOptions>
    {
        public void Configure(DeterminedClientOptions options)
        {
            if (registration.Section is null && configuration is not null)
            {
                var section = configuration.GetSection(DeterminedClientOptions.SectionName);
                registration.Section = section;
                section.Bind(options);
            }
        }
    }
}
