using Microsoft.Extensions.Logging;

namespace Determined.Security.Tests;

internal static class Clients
{
    public static HttpClient Create(TlsOptions options, Uri master, ILoggerFactory? logs = null, Action<CertificateTrustResolver>? adjust = null)
    {
        var policy = TlsPolicy.Create(options);
        var resolver = new CertificateTrustResolver(policy, logs?.CreateLogger<CertificateTrustResolver>());
        adjust?.Invoke(resolver);
        var factory = new MasterHttpHandlerFactory(resolver, logs?.CreateLogger<MasterHttpHandlerFactory>());
        return new HttpClient(factory.CreateHandler(master)) { BaseAddress = master, Timeout = TimeSpan.FromSeconds(30) };
    }

    public static async Task<string> GetInfoAsync(TlsOptions options, Uri master, ILoggerFactory? logs = null, Action<CertificateTrustResolver>? adjust = null)
    {
        using var client = Create(options, master, logs, adjust);
        return await client.GetStringAsync("/info");
    }
}
