using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Security;

/// <summary>
/// Builds the <see cref="HttpMessageHandler"/> that every HTTP and websocket connection to a master goes through:
/// a long-lived <see cref="SocketsHttpHandler"/> with the trust of a <see cref="CertificateTrustResolver"/>.
/// Create one handler per master and reuse it (or let <c>IHttpClientFactory</c> do it); handlers are expensive.
/// </summary>
/// <remarks>
/// <para>Defaults, chosen for a Determined master and spelled out here: TLS 1.2 or later; no automatic redirects
/// (a redirect must never carry a token elsewhere); no cookies; connect timeout 15 seconds; pooled connections live
/// at most 5 minutes so DNS and certificate changes are picked up; several HTTP/2 connections allowed; proxies from
/// the environment are honoured.</para>
/// <para>Name override (<see cref="TlsOptions.MasterCertificateName"/>): the connection is dialled to the URL's host,
/// while the override is sent as the TLS server name (SNI) and the HTTP <c>Host</c> header and is the name verified in
/// the certificate. <see cref="SocketsHttpHandler"/> derives SNI from the <c>Host</c> header and ignores
/// <c>SslOptions.TargetHost</c>, so this is the one way that keeps TLS session resumption working for IP URLs.</para>
/// <para>Reload: when a pinned file, client certificate, key or password file changes (checked at most every
/// <see cref="TlsOptions.ReloadCheckInterval"/>), the new material is validated and a new inner handler takes the new
/// connections; in-flight requests and open streams (websockets included) finish on the old one, which is left to close its idle connections and be collected. A broken replacement is refused, logged, and the old material kept.</para>
/// <para>Failures are reported as <see cref="MasterConnectionException"/>: certificate problems, a plain-HTTP server on
/// an <c>https://</c> URL, a TLS server on an <c>http://</c> URL, and failed handshakes.</para>
/// </remarks>
public class MasterHttpHandlerFactory
{
    private readonly ILogger _logger;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="resolver">The trust to apply.</param>
    /// <param name="logger">Where connection failures and skip-verify warnings are logged; <see langword="null"/> for none.</param>
    public MasterHttpHandlerFactory(CertificateTrustResolver resolver, ILogger<MasterHttpHandlerFactory>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        Resolver = resolver;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Creates a factory from options in one call (validated into a <see cref="TlsPolicy"/>, with a
    /// <see cref="CertificateTrustResolver"/>): what an agent or a tool needs to reach a master.
    /// </summary>
    /// <param name="options">The TLS options.</param>
    /// <param name="loggerFactory">Where the resolver and the handlers log; <see langword="null"/> for nowhere.</param>
    /// <param name="timeProvider">The clock certificates are judged at; <see langword="null"/> for the system clock.</param>
    /// <returns>The factory; create one handler per master with <see cref="CreateHandler"/> and reuse it.</returns>
    /// <exception cref="DeterminedConfigurationException">A setting is invalid; every problem is listed with its fix.</exception>
    public static MasterHttpHandlerFactory Create(TlsOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var loggers = loggerFactory ?? NullLoggerFactory.Instance;
        var resolver = new CertificateTrustResolver(TlsPolicy.Create(options), loggers.CreateLogger<CertificateTrustResolver>(), timeProvider);
        return new MasterHttpHandlerFactory(resolver, loggers.CreateLogger<MasterHttpHandlerFactory>());
    }

    /// <summary>Gets the trust applied by the handlers.</summary>
    public CertificateTrustResolver Resolver { get; }

    /// <summary>Creates the handler for one master.</summary>
    /// <param name="masterUri">The master URL (requests may use any path under it).</param>
    /// <returns>A handler to keep for the lifetime of the client; the caller disposes it.</returns>
    public HttpMessageHandler CreateHandler(Uri masterUri)
    {
        ArgumentNullException.ThrowIfNull(masterUri);
        if (!masterUri.IsAbsoluteUri)
        {
            throw new ArgumentException($"The master URL '{masterUri}' must be absolute, e.g. https://master.example.com:8443.", nameof(masterUri));
        }

        return new MasterConnectionHandler(Resolver, () => BuildSocketsHandler(masterUri), _logger);
    }

    /// <summary>The handler for one generation of trust: this factory's defaults, the resolver's options, the app's hook.</summary>
    private (SocketsHttpHandler Handler, TrustDecision Decision) BuildSocketsHandler(Uri masterUri)
    {
        var decision = Resolver.Resolve(masterUri);
        var sockets = CreateSocketsHttpHandler();
        sockets.SslOptions = Resolver.CreateSslClientAuthenticationOptions(masterUri);

        // Dial as the platform does, recording the phase and the addresses tried for the errors (an app's hook may replace these).
        sockets.ConnectCallback ??= MasterConnector.ConnectAsync;
        sockets.PlaintextStreamFilter ??= MasterConnector.ConnectedAsync;
        ConfigureHandler(masterUri, sockets);
        return (sockets, decision);
    }

    /// <summary>Creates the <see cref="SocketsHttpHandler"/> with this factory's defaults (before trust is applied).</summary>
    /// <returns>A new handler.</returns>
    protected virtual SocketsHttpHandler CreateSocketsHttpHandler() => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(15),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        EnableMultipleHttp2Connections = true,
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
    };

    /// <summary>A hook to adjust the handler after trust has been applied (proxy, limits, callbacks).</summary>
    /// <param name="masterUri">The master URL the handler is for.</param>
    /// <param name="handler">The handler; its <see cref="SocketsHttpHandler.SslOptions"/> already carry the trust.</param>
    protected virtual void ConfigureHandler(Uri masterUri, SocketsHttpHandler handler)
    {
    }
}
