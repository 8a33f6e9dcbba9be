using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Api;
using Determined.Samples.Master.Configuration;
using Determined.Samples.Master.Limits;
using Determined.Samples.Master.Tasks;
using Determined.Samples.Master.Tls;

namespace Determined.Samples.Master.Hosting;

/// <summary>The master's services, one instance each per master: the connection limits, TLS, users, agents and tasks.</summary>
public static class MasterServices
{
    /// <summary>Registers the master's services for <paramref name="config"/>; passwords are read from <paramref name="env"/>.</summary>
    /// <remarks>
    /// <see cref="AgentHub"/> (the websocket) feeds <see cref="TaskRegistry"/>, which launches tasks on the agents of
    /// <see cref="AgentDirectory"/>: neither needs the other's owner, so there is no cycle to break with a setter.
    /// </remarks>
    public static IServiceCollection AddMaster(this IServiceCollection services, MasterConfig config, Func<string, string?> env)
    {
        services.AddSingleton(config);
        services.AddSingleton(new MasterIdentity(Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), config.ClusterName, MasterHost.Version));
        services.AddSingleton(sp => new ConnectionLimits(config.MaxConnections, config.MaxConnectionsPerAddress, sp.GetRequiredService<ILogger<ConnectionLimits>>()));
        if (config.TlsEnabled)
        {
            services.AddSingleton(sp => new ServerCertificateReloader(config.TlsCert!, config.TlsKey!, sp.GetRequiredService<ILogger<ServerCertificateReloader>>()));
            if (config.RequireAuthentication)
            {
                services.AddSingleton(sp => new ClientCertificateVerifier(config.ClientCa, sp.GetRequiredService<ILogger<ClientCertificateVerifier>>()));
            }
        }

        services.AddSingleton(_ => new AuthService(config.Users, env, TimeSpan.FromDays(config.TokenLifespanDays)));
        services.AddSingleton(_ => new LoginThrottle(TimeProvider.System));
        services.AddSingleton<TaskLogBudget>();
        services.AddSingleton<AgentDirectory>();
        services.AddSingleton(sp =>
        {
            // Tasks get the chain the master serves (none without TLS).
            var certificates = sp.GetService<ServerCertificateReloader>();
            return new TaskRegistry(
                sp.GetRequiredService<AgentDirectory>(),
                sp.GetRequiredService<AuthService>(),
                sp.GetRequiredService<MasterIdentity>(),
                () => certificates?.ChainPem ?? string.Empty,
                sp.GetRequiredService<ILogger<TaskRegistry>>());
        });
        services.AddSingleton<AgentHub>();
        return services;
    }
}
