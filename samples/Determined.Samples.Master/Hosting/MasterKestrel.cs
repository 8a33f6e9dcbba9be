using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Determined.Samples.Master.Configuration;
using Determined.Samples.Master.Limits;
using Determined.Samples.Master.Tls;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Determined.Samples.Master.Hosting;

/// <summary>Kestrel with Determined's TLS rules and the limits on what an unauthenticated peer can hold.</summary>
public static class MasterKestrel
{
    /// <summary>
    /// Listens on the configured address and port: plain HTTP/1.1, or TLS 1.2+ with HTTP/2 and the hot-reloaded certificate
    /// (<see cref="ServerCertificateReloader"/>), asking agents for a client certificate when they must present one.
    /// </summary>
    public static IWebHostBuilder ConfigureMasterKestrel(this IWebHostBuilder webHost, MasterConfig config) => webHost.ConfigureKestrel(kestrel =>
    {
        kestrel.AddServerHeader = false;

        // What an unauthenticated peer can hold (docs/RELIABILITY.md): connections in all and per address (counted
        // before TLS), a handshake, an idle connection, a request's headers; small headers; agents' websockets.
        kestrel.Limits.KeepAliveTimeout = config.IdleTimeout;
        kestrel.Limits.RequestHeadersTimeout = config.RequestHeadersTimeout;
        kestrel.Limits.MaxConcurrentUpgradedConnections = config.MaxAgentConnections;
        kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
        kestrel.Limits.MaxRequestHeaderCount = 64;
        kestrel.Limits.MaxRequestLineSize = 8 * 1024;
        kestrel.Limits.Http2.MaxStreamsPerConnection = 20;
        kestrel.Limits.Http2.InitialConnectionWindowSize = 256 * 1024;
        kestrel.Limits.Http2.InitialStreamWindowSize = 128 * 1024;

        // A body that trickles holds its connection and its buffer: after 5 s it must arrive at 4 KB/s or more.
        kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 4096, gracePeriod: TimeSpan.FromSeconds(5));
        kestrel.Listen(config.ListenAddress, config.EffectivePort, listen =>
        {
            // The services exist by then: MasterHost resolves them before the server starts.
            var services = listen.ApplicationServices;
            listen.Use(next => services.GetRequiredService<ConnectionLimits>().Wrap(next));
            if (!config.TlsEnabled)
            {
                listen.Protocols = HttpProtocols.Http1;
                return;
            }

            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                HandshakeTimeout = config.HandshakeTimeout,
                OnConnection = _ => ValueTask.FromResult(ServerOptions(config, services)),
            });
        });
    });

    private static SslServerAuthenticationOptions ServerOptions(MasterConfig config, IServiceProvider services)
    {
        var verifier = config.RequireAuthentication ? services.GetRequiredService<ClientCertificateVerifier>() : null;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = services.GetRequiredService<ServerCertificateReloader>().Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            ClientCertificateRequired = config.RequireAuthentication,
            RemoteCertificateValidationCallback = verifier is null ? null : (_, c, ch, e) => verifier.Validate(c, ch, e),
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,

            // An agent's certificate may name issuer URLs: the master never fetches them (no request forgery).
            CertificateChainPolicy = new X509ChainPolicy
            {
                RevocationMode = X509RevocationMode.NoCheck,
                DisableCertificateDownloads = true,
            },
        };
    }
}
