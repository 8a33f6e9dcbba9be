using System.Diagnostics.Metrics;

namespace Determined.Security;

/// <summary>
/// The <c>Determined.Security</c> meter. Instrument names and tags are stable:
/// <c>determined.security.handshakes</c> (tag <c>result</c> = accepted|rejected),
/// <c>determined.security.handshake_failures</c> (tag <c>error.type</c> = a <see cref="MasterConnectionError"/>),
/// <c>determined.security.trust_decisions</c> (tag <c>trust.anchors</c> = a <see cref="TrustAnchors"/>),
/// <c>determined.security.trust_on_first_use</c> (tag <c>event</c> = trusted|renewed|replaced|changed|rejected),
/// <c>determined.security.reloads</c> (tag <c>result</c> = loaded|refused),
/// <c>determined.security.master_certificate.expires_in</c> (gauge, seconds until the first certificate of an accepted
/// chain expires; tag <c>server.address</c> = the name verified).
/// </summary>
internal static class SecurityTelemetry
{
    public const string MeterName = "Determined.Security";

    private static readonly Meter s_meter = new(MeterName, typeof(SecurityTelemetry).Assembly.GetName().Version?.ToString());

    public static readonly Counter<long> Handshakes = s_meter.CreateCounter<long>("determined.security.handshakes", "{handshake}", "Server certificates checked by the trust resolver.");

    public static readonly Counter<long> HandshakeFailures = s_meter.CreateCounter<long>("determined.security.handshake_failures", "{failure}", "Connections to a master that failed, by error class.");

    public static readonly Counter<long> TrustDecisions = s_meter.CreateCounter<long>("determined.security.trust_decisions", "{decision}", "Trust decisions made for master URLs, by source.");

    public static readonly Counter<long> TrustOnFirstUse = s_meter.CreateCounter<long>("determined.security.trust_on_first_use", "{event}", "Trust-on-first-use events.");

    public static readonly Counter<long> Reloads = s_meter.CreateCounter<long>("determined.security.reloads", "{reload}", "Reloads of trust material or client identities.");

    public static readonly Gauge<double> ExpiresIn = s_meter.CreateGauge<double>("determined.security.master_certificate.expires_in", "s", "Time until the first certificate of a master's accepted chain expires.");

    // Every success-path recorder checks Enabled first: with no listener, a handshake pays no boxing or enum formatting.
    public static void Accepted()
    {
        if (Handshakes.Enabled)
        {
            Handshakes.Add(1, new KeyValuePair<string, object?>("result", "accepted"));
        }
    }

    public static void Failed(MasterConnectionError error) =>
        HandshakeFailures.Add(1, new KeyValuePair<string, object?>("error.type", error.ToString()));

    public static void Rejected(MasterConnectionError error)
    {
        Handshakes.Add(1, new KeyValuePair<string, object?>("result", "rejected"));
        Failed(error);
    }

    public static void Decided(TrustAnchors anchors)
    {
        if (TrustDecisions.Enabled)
        {
            TrustDecisions.Add(1, new KeyValuePair<string, object?>("trust.anchors", anchors.ToString()));
        }
    }

    public static void FirstUse(string @event) => TrustOnFirstUse.Add(1, new KeyValuePair<string, object?>("event", @event));
}
