using System.Security.Cryptography.X509Certificates;
using System.Text;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Tasks;
using Determined.Samples.Master.Tls;
using Determined.Security;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Determined.Samples.Master.Api;

/// <summary>
/// <c>GET /status</c> (and <c>GET /</c>, redirected to it): the status page a browser opens over the master's TLS port.
/// Public, like <c>/info</c>: the cluster's identity, agent and task counts by state and the served certificate (which
/// every TLS client sees anyway). Agents and tasks one by one only for a user session (<c>Authorization: Bearer</c>),
/// as <c>GET /api/v1/agents</c>. Never tokens, environments, commands' arguments beyond the description, or key material.
/// </summary>
public static partial class StatusPageEndpoints
{
    /// <summary>
    /// The page's headers: no script, no request to anywhere, no framing (<c>default-src 'none'</c>, inline styles only);
    /// never sniffed, cached, or named in a referrer.
    /// </summary>
    public const string ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>Maps <c>/status</c> and <c>/</c> on the root.</summary>
    public static IEndpointRouteBuilder MapStatusPageEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var logger = endpoints.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Determined.Master");
        endpoints.MapGet("/", () => Results.Redirect("/status"));
        endpoints.MapGet("/status", (HttpContext context) =>
        {
            var services = context.RequestServices;
            var detailed = services.GetRequiredService<AuthService>().Authenticate(context) is { HasUserToken: true };
            var tls = context.Features.Get<ITlsHandshakeFeature>();
            var view = new StatusView(
                services.GetRequiredService<MasterIdentity>(),
                [.. services.GetRequiredService<AgentDirectory>().Connected],
                [.. services.GetRequiredService<TaskRegistry>().All],
                services.GetService<ServerCertificateReloader>()?.Served,
                ConnectionCertificate(context),
                tls is null ? null : $"{Protocol(tls)}, {tls.NegotiatedCipherSuite}",
                detailed,
                DateTimeOffset.UtcNow);
            StatusPageServed(logger, detailed);
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.CacheControl = "no-store";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            headers["Cross-Origin-Resource-Policy"] = "same-origin";
            return Results.Text(StatusPage.Render(view), "text/html; charset=utf-8", Encoding.UTF8);
        });
        return endpoints;
    }

    /// <summary>The certificate this connection's handshake served (a connection opened before a renewal keeps the old one).</summary>
    private static CertificateSummary? ConnectionCertificate(HttpContext context) =>
        context.Features.Get<ISslStreamFeature>()?.SslStream.LocalCertificate is { } local
            ? CertificateSummary.Create(local as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(local.GetRawCertData()))
            : null;

    private static string Protocol(ITlsHandshakeFeature tls) => tls.Protocol switch
    {
        System.Security.Authentication.SslProtocols.Tls13 => "TLS 1.3",
        System.Security.Authentication.SslProtocols.Tls12 => "TLS 1.2",
        var other => other.ToString(),
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Served the status page (detailed: {Detailed})")]
    private static partial void StatusPageServed(ILogger logger, bool detailed);
}
