using System.Net;

namespace Determined.Samples.Master.Configuration;

/// <summary>The master's effective configuration (upstream's master.yaml keys) after flags, env, file and defaults.</summary>
public sealed record MasterConfig
{
    /// <summary>Gets how many days a user session token lives (security.token.default_lifespan_days; upstream's default 30).</summary>
    public int TokenLifespanDays { get; init; } = 30;

    /// <summary>Gets the certificate names each agent id may register with besides the id itself (resource_manager.agent_certificate_names).</summary>
    public IReadOnlyDictionary<string, HashSet<string>> AgentCertificateNames { get; init; } = new Dictionary<string, HashSet<string>>();

    public int? Port { get; init; }
    public IPAddress ListenAddress { get; init; } = IPAddress.Any;
    public string? TlsCert { get; init; }
    public string? TlsKey { get; init; }
    public bool RequireAuthentication { get; init; }
    public string? ClientCa { get; init; }
    public string ClusterName { get; init; } = "sample-cluster";
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets the most connections open at once (limits.max_connections); more are closed at accept.</summary>
    public int MaxConnections { get; init; } = 2048;

    /// <summary>Gets the most connections one client address may hold open (limits.max_connections_per_address).</summary>
    public int MaxConnectionsPerAddress { get; init; } = 256;

    /// <summary>Gets how long a connection may stay open without a request (limits.idle_timeout; Kestrel's keep-alive timeout).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets how long a client may take to send a request's headers (limits.request_headers_timeout).</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets the most websocket (agent) connections at once (limits.max_agent_connections).</summary>
    public int MaxAgentConnections { get; init; } = 1024;

    /// <summary>Gets the most log entries one POST /api/v1/task/logs may carry (limits.max_log_entries_per_request).</summary>
    public int MaxLogEntriesPerRequest { get; init; } = 10_000;
    public IReadOnlyList<UserConfig> Users { get; init; } = [];

    public bool TlsEnabled => TlsCert is not null && TlsKey is not null;

    /// <summary>Unset port: 8443 with TLS, 8080 without (never both).</summary>
    public int EffectivePort => Port ?? (TlsEnabled ? 8443 : 8080);

    /// <summary>The configuration errors, with upstream's wording where upstream has one.</summary>
    public IEnumerable<string> Validate()
    {
        if (TlsCert is not null && TlsKey is null)
        {
            yield return "TLS cert file provided without a key file (security.tls.cert is set, security.tls.key is not). Fix: set security.tls.key / DET_SECURITY_TLS_KEY / --security-tls-key.";
        }

        if (TlsKey is not null && TlsCert is null)
        {
            yield return "TLS key file provided without a cert file (security.tls.key is set, security.tls.cert is not). Fix: set security.tls.cert / DET_SECURITY_TLS_CERT / --security-tls-cert.";
        }

        if (Port is < 0 or > 65535)
        {
            yield return $"port {Port} is not a TCP port. Fix: use 1-65535 (0 lets the OS choose).";
        }

        if (RequireAuthentication && !TlsEnabled)
        {
            yield return "resource_manager.require_authentication needs TLS (security.tls.cert and security.tls.key). Fix: configure TLS or turn require_authentication off.";
        }

        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            yield return $"security.tls.handshake_timeout {HandshakeTimeout} must be positive.";
        }

        if (IdleTimeout <= TimeSpan.Zero || RequestHeadersTimeout <= TimeSpan.Zero)
        {
            yield return $"limits.idle_timeout ({IdleTimeout}) and limits.request_headers_timeout ({RequestHeadersTimeout}) must be positive.";
        }

        if (MaxConnectionsPerAddress > MaxConnections)
        {
            yield return $"limits.max_connections_per_address ({MaxConnectionsPerAddress}) is larger than limits.max_connections ({MaxConnections}). Fix: lower it, or raise max_connections.";
        }
    }
}

/// <summary>A user of the sample master. The password comes from an environment variable, never from the config text.</summary>
public sealed record UserConfig(string Username, bool Admin, string? PasswordEnv);
