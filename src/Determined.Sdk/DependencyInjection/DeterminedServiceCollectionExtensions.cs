using Determined;
using Determined.Sdk;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="DeterminedClient"/>s with <c>IHttpClientFactory</c>: a default one, and named ones for other masters.</summary>
public static class DeterminedServiceCollectionExtensions
{
    /// <summary>The name of the HTTP client of the default <see cref="DeterminedClient"/>; a named client's is <c>Determined:&lt;name&gt;</c>.</summary>
    public const string HttpClientName = "Determined";

    /// <summary>
    /// Adds the default <see cref="DeterminedClient"/>, configured from the <c>Determined</c> configuration section (when an
    /// <see cref="IConfiguration"/> is registered) and the <c>DET_*</c> environment; inside a Determined task nothing
    /// else is needed. Settings are validated at start, with every problem listed. Calling it again is harmless.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The HTTP client builder, to add handlers or resilience.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services) => AddCore(services, Options.Options.DefaultName, null, null);

    /// <summary>Adds the default <see cref="DeterminedClient"/> and configures its options in code (applied after configuration binding).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets options.</param>
    /// <returns>The HTTP client builder.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services, Action<DeterminedClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddCore(services, Options.Options.DefaultName, configure, null);
    }

    /// <summary>Adds the default <see cref="DeterminedClient"/> with options bound from the given configuration section.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section holding <see cref="DeterminedClientOptions"/> (e.g. <c>configuration.GetSection("Determined")</c>).</param>
    /// <returns>The HTTP client builder.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddCore(services, Options.Options.DefaultName, null, configuration);
    }

    /// <summary>
    /// Adds a named <see cref="DeterminedClient"/> for another master, resolved through <see cref="IDeterminedClientFactory"/>
    /// or as a keyed service. Its options come from the <c>Determined:Clients:&lt;name&gt;</c> configuration section (when an
    /// <see cref="IConfiguration"/> is registered), then <paramref name="configure"/>; it does not read the <c>DET_*</c>
    /// environment unless <see cref="DeterminedClientOptions.UseEnvironment"/> is set.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The client's name (not empty).</param>
    /// <param name="configure">Sets options, e.g. <see cref="DeterminedClientOptions.MasterUrl"/> and its trust.</param>
    /// <returns>The HTTP client builder of this client.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services, string name, Action<DeterminedClientOptions> configure)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        return AddCore(services, name, configure, null);
    }

    /// <summary>Adds a named <see cref="DeterminedClient"/> with options bound from the given configuration section.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The client's name (not empty).</param>
    /// <param name="configuration">The section holding its <see cref="DeterminedClientOptions"/>.</param>
    /// <returns>The HTTP client builder of this client.</returns>
    public static IHttpClientBuilder AddDeterminedClient(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return AddCore(services, name, null, configuration);
    }

    private static IHttpClientBuilder AddCore(IServiceCollection services, string name, Action<DeterminedClientOptions>? configure, IConfiguration? section)
    {
        ArgumentNullException.ThrowIfNull(services);
        var registration = services.FirstOrDefault(d => d.ServiceType == typeof(DeterminedRegistration) && !d.IsKeyedService)?.ImplementationInstance as DeterminedRegistration;
        if (registration is null)
        {
            registration = new DeterminedRegistration();
            services.AddSingleton(registration);
            services.TryAddSingleton(new DeterminedEnvironment());
            services.TryAddSingleton<ClientSettingsResolver>();
            services.AddSingleton<IValidateOptions<DeterminedClientOptions>, DeterminedClientOptionsValidator>();
            services.TryAddSingleton<DeterminedClientServices>();
            services.TryAddSingleton<IDeterminedClientFactory>(sp => sp.GetRequiredService<DeterminedClientServices>());
            services.TryAddSingleton(sp => sp.GetRequiredService<DeterminedClientServices>().Settings(Options.Options.DefaultName));
            services.TryAddSingleton(sp => sp.GetRequiredService<DeterminedClientServices>().HandlerFactory(Options.Options.DefaultName));
        }

        var isDefault = name.Length == 0;
        var httpName = isDefault ? HttpClientName : HttpClientName + ":" + name;
        var first = !registration.Clients.ContainsKey(name);
        var client = registration.Clients.GetOrAdd(name, n => new NamedRegistration(n, httpName));
        if (first)
        {
            services.AddOptions<DeterminedClientOptions>(name).ValidateOnStart();
            if (!isDefault)
            {
                // Another master: the task's environment is not for it unless the app says so.
                services.Configure<DeterminedClientOptions>(name, o => o.UseEnvironment = false);
            }
        }

        if (section is not null)
        {
            client.ExplicitSection = section;
            services.Configure<DeterminedClientOptions>(name, o => section.Bind(o));
        }
        else if (first)
        {
            services.AddSingleton<IConfigureOptions<DeterminedClientOptions>>(sp => new ConfigureFromSection(client, sp.GetService<IConfiguration>()));
        }

        if (configure is not null)
        {
            services.Configure(name, configure);
        }

        var builder = isDefault ? services.AddHttpClient<DeterminedClient>(httpName) : services.AddHttpClient(httpName);
        if (!first)
        {
            return builder;
        }

        if (!isDefault)
        {
            services.AddKeyedTransient<DeterminedClient>(name, (sp, _) => sp.GetRequiredService<IDeterminedClientFactory>().CreateClient(name));
        }

        // One retry layer: when the app adds its own resilience handler (AddStandardResilienceHandler, AddResilienceHandler),
        // the SDK's retry handler steps aside. Post-configured, so it runs after every handler the app added to this client.
        services.PostConfigure<HttpClientFactoryOptions>(httpName, o => o.HttpMessageHandlerBuilderActions.Add(b =>
        {
            if (b.AdditionalHandlers.Any(IsResilienceHandler))
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

        return builder
            .ConfigureHttpClient((sp, http) => ClientPipeline.Configure(http, sp.GetRequiredService<DeterminedClientServices>().Settings(name)))
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var clients = sp.GetRequiredService<DeterminedClientServices>();
                return ClientPipeline.PrimaryHandler(clients.HandlerFactory(name), clients.Settings(name));
            })
            .AddHttpMessageHandler(sp => ClientPipeline.RetryHandler(
                sp.GetRequiredService<DeterminedClientServices>().Settings(name),
                sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
                ClientPipeline.Telemetry(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>())))
            // The handler is long-lived by design: it reloads changed trust material itself and recycles pooled
            // connections every 5 minutes, so the factory's 2-minute handler rotation would only cost handshakes.
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Whether an app's handler is Microsoft.Extensions.Http.Resilience's <c>ResilienceHandler</c> (or derives from it). Told
    /// by its type's identity through the hierarchy; the type is named, not referenced, because referencing that package only to
    /// recognise it would impose it (and its dependencies) on every app.
    /// </summary>
    private static bool IsResilienceHandler(DelegatingHandler handler)
    {
        for (var type = handler.GetType(); type is not null && type != typeof(DelegatingHandler); type = type.BaseType)
        {
            if (type.FullName == "Microsoft.Extensions.Http.Resilience.ResilienceHandler" && type.Assembly.GetName().Name == "Microsoft.Extensions.Http.Resilience")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Binds a client's default section when no section was given explicitly.</summary>
    private sealed class ConfigureFromSection(NamedRegistration client, IConfiguration? configuration) : IConfigureNamedOptions<DeterminedClientOptions>
    {
        public void Configure(DeterminedClientOptions options) => Configure(Options.Options.DefaultName, options);

        public void Configure(string? optionsName, DeterminedClientOptions options)
        {
            if ((optionsName ?? Options.Options.DefaultName) != client.Name || configuration is null || client.ExplicitSection is not null)
            {
                return;
            }

            configuration.GetSection(client.DefaultSectionKey).Bind(options);
        }
    }
}
