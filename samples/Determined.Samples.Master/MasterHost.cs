using System.Net;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Api;
using Determined.Samples.Master.Configuration;
using Determined.Samples.Master.Hosting;
using Determined.Samples.Master.Limits;
using Determined.Samples.Master.Tasks;
using Determined.Samples.Master.Tls;

namespace Determined.Samples.Master;

/// <summary>The sample master: Kestrel with Determined's TLS rules, the REST subset, the agent websocket and task launching.</summary>
public sealed partial class MasterHost : IAsyncDisposable
{
    /// <summary>A PEP 440 version (upstream's CLI parses it with packaging.version): the upstream release it follows, plus a local label.</summary>
    public const string Version = "0.38.0+dotnet.sample";

    private MasterHost(WebApplication app, Uri uri)
    {
        App = app;
        Uri = uri;
    }

    /// <summary>Gets the running application (its services, its server).</summary>
    public WebApplication App { get; }

    /// <summary>The bound URL (the real port when 0 was asked for); 127.0.0.1 when listening on all interfaces.</summary>
    public Uri Uri { get; }

    /// <summary>Gets the served certificate, reloaded when its files change; null without TLS.</summary>
    public ServerCertificateReloader? Certificates => App.Services.GetService<ServerCertificateReloader>();

    /// <summary>Gets the connected agents.</summary>
    public AgentDirectory Agents => App.Services.GetRequiredService<AgentDirectory>();

    /// <summary>Gets the launched tasks.</summary>
    public TaskRegistry Tasks => App.Services.GetRequiredService<TaskRegistry>();

    /// <summary>Gets the users and tokens.</summary>
    public AuthService Auth => App.Services.GetRequiredService<AuthService>();

    /// <summary>Starts a master for <paramref name="config"/>; <paramref name="env"/> reads the users' password variables.</summary>
    /// <param name="config">The effective configuration.</param>
    /// <param name="env">Reads environment variables (password_env).</param>
    /// <param name="logging">Replaces the default single-line console logging.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<MasterHost> StartAsync(MasterConfig config, Func<string, string?> env, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logging is null)
        {
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        }
        else
        {
            logging(builder.Logging);
        }

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.WebHost.ConfigureMasterKestrel(config);
        builder.Services.AddMaster(config, env);
        var app = builder.Build();

        // Created now, in this order, so that a bad certificate, key or client CA fails the start, not the first handshake.
        _ = app.Services.GetRequiredService<ConnectionLimits>();
        var certificates = app.Services.GetService<ServerCertificateReloader>();
        _ = app.Services.GetService<ClientCertificateVerifier>();
        var auth = app.Services.GetRequiredService<AuthService>();
        var startLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Determined.Samples.Master");
        foreach (var warning in auth.Warnings)
        {
            ConfigurationWarning(startLog, warning);
        }

        if (!IPAddress.IsLoopback(config.ListenAddress) && auth.HasDefaultUsersWithoutPassword)
        {
            DefaultUsersExposed(startLog, config.ListenAddress);
        }

        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(15), KeepAliveTimeout = TimeSpan.FromSeconds(60) });
        app.UseRequestLimits();
        app.MapMasterEndpoints();
        app.MapStatusPageEndpoints();
        var api = app.MapGroup("/api/v1");
        api.MapAuthEndpoints();
        api.MapTaskEndpoints();
        app.MapAgentEndpoints(api);
        api.MapCommandEndpoints();

        await app.StartAsync(cancellationToken);
        var bound = new Uri(app.Urls.First());
        var host = config.ListenAddress.Equals(IPAddress.Any) || config.ListenAddress.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : config.ListenAddress.ToString();
        var uri = new UriBuilder(config.TlsEnabled ? "https" : "http", host, bound.Port).Uri;
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Determined.Master");
        if (certificates?.Leaf is { } leaf)
        {
            ListeningWithTls(
                log, uri, $"{config.ListenAddress}:{bound.Port}", leaf.Subject, string.Join(", ", leaf.Names), leaf.Sha256Fingerprint, leaf.NotAfter,
                config.RequireAuthentication ? "must present a client certificate (mTLS)" : "need no client certificate");
        }
        else
        {
            ListeningWithoutTls(log, uri, $"{config.ListenAddress}:{bound.Port}");
        }

        return new MasterHost(app, uri);
    }

    /// <summary>Stops the server and releases the application.</summary>
    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Configuration: {Warning}")]
    private static partial void ConfigurationWarning(ILogger logger, string warning);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The default users 'determined' and 'admin' have empty passwords (as upstream) and this master listens on {Address}: anyone who reaches it can log in and launch commands. Fix: define them in 'users' with password_env, or listen on 127.0.0.1.")]
    private static partial void DefaultUsersExposed(ILogger logger, IPAddress address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Determined master listening on {Url} (bound {Bound}): TLS on, certificate '{Subject}', names [{Names}], SHA-256 {Fingerprint}, expires {Expiry:u}; agents {AgentAuth}")]
    private static partial void ListeningWithTls(ILogger logger, Uri url, string bound, string subject, string names, string fingerprint, DateTimeOffset expiry, string agentAuth);

    [LoggerMessage(Level = LogLevel.Information, Message = "Determined master listening on {Url} (bound {Bound}): TLS off (plain HTTP)")]
    private static partial void ListeningWithoutTls(ILogger logger, Uri url, string bound);
}
