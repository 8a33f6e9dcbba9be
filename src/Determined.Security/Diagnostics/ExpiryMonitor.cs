using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Determined.Security;

/// <summary>
/// Watches the expiry of accepted chains: runs once per newly accepted chain (later handshakes hit the
/// <see cref="AcceptedChainCache"/>), records the time until its first certificate expires, and warns once per certificate
/// when that is within <see cref="TlsOptions.CertificateExpiryWarning"/>.
/// </summary>
internal sealed class ExpiryMonitor(TimeSpan warning, ILogger logger)
{
    private string? _warned;

    public void Report(string host, List<X509Certificate2> path, List<CertificateFacts> facts, DateTimeOffset now)
    {
        var first = 0;
        for (var i = 1; i < facts.Count; i++)
        {
            if (facts[i].NotAfter < facts[first].NotAfter)
            {
                first = i;
            }
        }

        var left = facts[first].NotAfter - now;
        if (SecurityTelemetry.ExpiresIn.Enabled)
        {
            SecurityTelemetry.ExpiresIn.Record(left.TotalSeconds, new KeyValuePair<string, object?>("server.address", host));
        }

        if (warning > TimeSpan.Zero && left <= warning)
        {
            var fingerprint = CertificatePin.Sha256Fingerprint(path[first]);
            if (!string.Equals(Interlocked.Exchange(ref _warned, fingerprint), fingerprint, StringComparison.Ordinal))
            {
                Log.CertificateExpiresSoon(logger, CertificateSummary.SafeSubject(path[first]), fingerprint, host, facts[first].NotAfter, left.TotalDays);
            }
        }
    }
}
