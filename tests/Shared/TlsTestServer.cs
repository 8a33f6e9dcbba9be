using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace Determined.Testing;

/// <summary>A real Kestrel server on 127.0.0.1 with an OS-chosen port, serving a given certificate chain (or plain HTTP).</summary>
public sealed class TlsTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TlsTestServer(WebApplication app, Uri uri)
    {
        _app = app;
        Uri = uri;
    }

    public Uri Uri { get; }

    public int Port => Uri.Port;

    /// <summary>Names the server saw: SNI and Host header of the last request, and the client certificate subject.</summary>
    public string? LastSni { get; set; } = "<no handshake>";

    /// <summary>Replaces the served certificate for the next handshakes (rotation without restart).</summary>
    public SslStreamCertificateContext? CertificateContext { get; private set; }

    public void SetCertificate(X509Certificate2 certificate, params X509Certificate2[] chain) =>
        CertificateContext = SslStreamCertificateContext.Create(certificate, new X509Certificate2Collection(chain), offline: true);

    public string? LastHost { get; private set; }

    public string? LastClientCertificateSubject { get; private set; }

    public sealed record Options
    {
        public X509Certificate2? Certificate { get; init; }
        public X509Certificate2[] Chain { get; init; } = [];
        public ClientCertificateMode ClientCertificates { get; init; } = ClientCertificateMode.NoCertificate;
        public SslProtocols Protocols { get; init; } = SslProtocols.None;
        public HttpProtocols HttpProtocols { get; init; } = HttpProtocols.Http1AndHttp2;
        public Action<WebApplication>? Map { get; init; }
        public RemoteCertificateValidationCallback? ClientCertificateValidation { get; init; }
        public CipherSuitesPolicy? CipherSuites { get; init; }
    }

    public static Task<TlsTestServer> StartAsync(X509Certificate2? certificate, params X509Certificate2[] chain) =>
        StartAsync(new Options { Certificate = certificate, Chain = chain });

    public static async Task<TlsTestServer> StartAsync(Options options)
    {
        TlsTestServer? server = null;
        SslStreamCertificateContext? certContext = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = options.Certificate is null ? HttpProtocols.Http1 : options.HttpProtocols;
            if (options.Certificate is not null)
            {
                certContext = SslStreamCertificateContext.Create(options.Certificate, new X509Certificate2Collection(options.Chain), offline: true);
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = hello =>
                    {
                        server!.LastSni = hello.ClientHelloInfo.ServerName;
                        var ssl = new SslServerAuthenticationOptions
                        {
                            ServerCertificateContext = server!.CertificateContext ?? certContext,
                            ClientCertificateRequired = options.ClientCertificates != ClientCertificateMode.NoCertificate,
                            RemoteCertificateValidationCallback = options.ClientCertificateValidation ?? ((_, _, _, _) => true),
                            EnabledSslProtocols = options.Protocols,
                            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                            ApplicationProtocols = options.HttpProtocols == HttpProtocols.Http1
                                ? [SslApplicationProtocol.Http11]
                                : [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
                            CipherSuitesPolicy = options.CipherSuites,
                        };
                        return ValueTask.FromResult(ssl);
                    },
                });
            }
        }));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            server!.LastHost = context.Request.Host.Value;
            server.LastClientCertificateSubject = context.Connection.ClientCertificate?.Subject;
            await next(context);
        });
        app.MapGet("/info", () => Results.Json(new { version = "0.0.0-test", cluster_name = "test" }));
        app.MapGet("/echo-names", (HttpContext c) => $"{c.Features.Get<ITlsHandshakeFeature>()?.HostName}|{c.Request.Host.Value}|{c.Request.Protocol}");
        options.Map?.Invoke(app);
        await app.StartAsync();
        var address = app.Urls.First();
        server = new TlsTestServer(app, new Uri(address.Replace("http://", options.Certificate is null ? "http://" : "https://", StringComparison.Ordinal)));
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
