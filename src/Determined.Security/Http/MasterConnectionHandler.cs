using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>
/// Sends the name override as <c>Host</c> (hence SNI), refuses plain HTTP when encryption is required, and turns
/// connection failures into classified <see cref="MasterCertificateException"/>s.
/// </summary>
internal sealed class MasterConnectionHandler : DelegatingHandler
{
    private readonly TlsPolicy _policy;
    private readonly ILogger _logger;

    public MasterConnectionHandler(HttpMessageHandler inner, TlsPolicy policy, ILogger logger)
        : base(inner)
    {
        _policy = policy;
        _logger = logger;
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        var https = CertificateTrustResolver.IsHttps(uri);
        if (!https && _policy.RequireEncryption)
        {
            SecurityTelemetry.Failed(MasterCertificateError.EncryptionRequired);
            throw Failure(uri, MasterCertificateError.EncryptionRequired,
                $"the URL '{uri.GetLeftPart(UriPartial.Authority)}' is plain HTTP and TlsOptions.RequireEncryption is on",
                $"use https://{uri.Authority} (enable TLS on the master with security.tls.cert and security.tls.key)", null);
        }

        if (https && _policy.MasterCertificateName is { } name && request.Headers.Host is null
            && !string.Equals(name, uri.IdnHost, StringComparison.OrdinalIgnoreCase))
        {
            request.Headers.Host = uri.IsDefaultPort ? FormatHost(name) : string.Create(CultureInfo.InvariantCulture, $"{FormatHost(name)}:{uri.Port}");
        }

        return SendCoreAsync(request, uri, https, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, Uri uri, bool https, CancellationToken cancellationToken)
    {
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (!cancellationToken.IsCancellationRequested)
        {
            var classified = await ClassifyAsync(ex, uri, https, cancellationToken).ConfigureAwait(false);
            if (classified is null)
            {
                throw;
            }

            Log.ConnectionFailed(_logger, uri, classified.Error, classified.Message);
            if (classified.Error is MasterCertificateError.PlaintextServer or MasterCertificateError.TlsServerOnPlaintextUrl or MasterCertificateError.HandshakeFailed)
            {
                SecurityTelemetry.Failed(classified.Error);
            }

            throw classified;
        }
    }

    private async Task<MasterCertificateException?> ClassifyAsync(HttpRequestException ex, Uri uri, bool https, CancellationToken cancellationToken)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is MasterCertificateException certificateException)
            {
                return certificateException;
            }
        }

        var authority = uri.GetLeftPart(UriPartial.Authority);
        if (https && ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            if (await MasterProbe.SpeaksPlainHttpAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
            {
                return Failure(uri, MasterCertificateError.PlaintextServer,
                    $"'{authority}' is an https:// URL but the server on port {uri.Port} answers in plain HTTP",
                    $"use http://{uri.Authority}, or enable TLS on the master (security.tls.cert and security.tls.key; a TLS master listens on 8443 by default)", ex);
            }

            return Failure(uri, MasterCertificateError.HandshakeFailed,
                $"the TLS handshake with {uri.Authority} failed ({Innermost(ex).Message})",
                $"check that both sides share a TLS version (TlsOptions.MinimumTlsVersion is {_policy.MinimumTlsVersion}) and a cipher suite, and whether the master requires a client certificate ({Messages.ClientCertSetting})", ex);
        }

        if (!https && ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse or HttpRequestError.Unknown
            && await MasterProbe.SpeaksTlsAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false))
        {
            return Failure(uri, MasterCertificateError.TlsServerOnPlaintextUrl,
                $"'{authority}' is an http:// URL but the server on port {uri.Port} speaks TLS",
                $"use https://{uri.Authority}", ex);
        }

        return null;
    }

    private static MasterCertificateException Failure(Uri uri, MasterCertificateError error, string detail, string fix, Exception? inner) =>
        new(error, uri.IdnHost, Messages.Failure(error, uri.IdnHost, null, detail, fix), fix, null, inner);

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex;
    }

    private static string FormatHost(string name) =>
        name.Contains(':', StringComparison.Ordinal) && !name.StartsWith('[') ? $"[{name}]" : name;
}
