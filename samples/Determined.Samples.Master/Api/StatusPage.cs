using System.Globalization;
using System.Net;
using System.Text;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Tasks;
using Determined.Samples.Master.Tls;
using Determined.Security;

namespace Determined.Samples.Master.Api;

/// <summary>What the status page shows, read once per request.</summary>
/// <param name="Identity">The master's identity (what <c>/info</c> answers).</param>
/// <param name="Agents">The connected agents.</param>
/// <param name="Tasks">Every task, with its state.</param>
/// <param name="Served">The served certificate file (leaf first); null without TLS.</param>
/// <param name="Connection">The certificate this connection's handshake was served; null when unknown or without TLS.</param>
/// <param name="Protocol">This connection's TLS version and cipher suite; null without TLS.</param>
/// <param name="Detailed">A user session asked: agents and tasks are listed one by one.</param>
/// <param name="Now">The time the page is made.</param>
public sealed record StatusView(
    MasterIdentity Identity,
    IReadOnlyList<AgentConnection> Agents,
    IReadOnlyList<TaskRecord> Tasks,
    IReadOnlyList<ServedCertificate>? Served,
    CertificateSummary? Connection,
    string? Protocol,
    bool Detailed,
    DateTimeOffset Now);

/// <summary>
/// The status page as one HTML string, made on the server: no script, no external resource, and every value that is not
/// a literal of this file HTML-encoded (agent ids, host names, task descriptions and certificate subjects come from peers
/// and configuration, and are never markup).
/// </summary>
public static class StatusPage
{
    private const string Style =
        "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#1d2330}"
        + "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #d5dae3;padding-bottom:4px}"
        + "table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #eceff4}"
        + "th{color:#5a6477;font-weight:600;width:170px}code{font:12px ui-monospace,monospace;word-break:break-all}"
        + ".meta,.note{color:#5a6477}.ok{color:#1a7f37}.warn{color:#9a6700}.bad{color:#cf222e}"
        + ".cert{border:1px solid #d5dae3;border-radius:6px;padding:4px 8px;margin:8px 0}";

    /// <summary>Renders <paramref name="view"/>.</summary>
    public static string Render(StatusView view)
    {
        var html = new StringBuilder(8 * 1024);
        var cluster = E(view.Identity.ClusterName);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Append("<title>Determined master: ").Append(cluster).Append("</title><style>").Append(Style).Append("</style></head><body>\n")
            .Append("<h1>Determined master <span id=\"cluster-name\">").Append(cluster).Append("</span></h1>\n")
            .Append("<p class=\"meta\">version <code>").Append(E(view.Identity.Version)).Append("</code> · cluster id <code>").Append(E(view.Identity.ClusterId))
            .Append("</code> · page made ").Append(Time(view.Now)).Append("</p>\n");
        Agents(html, view);
        Tasks(html, view);
        Certificates(html, view);
        return html.Append("</body></html>\n").ToString();
    }

    private static void Agents(StringBuilder html, StatusView view)
    {
        var slots = view.Agents.Sum(a => a.Devices.Count);
        html.Append("<h2>Agents</h2>\n<p id=\"agents-summary\">").Append(Count(view.Agents.Count, "agent")).Append(" connected, ")
            .Append(Count(slots, "slot")).Append(".</p>\n");
        if (!view.Detailed)
        {
            return;
        }

        html.Append("<table id=\"agents\"><tr><th>Agent</th><th>Host name</th><th>Resource pool</th><th>Slots</th><th>Connected since</th></tr>\n");
        foreach (var agent in view.Agents)
        {
            html.Append("<tr><td><code>").Append(E(agent.Id)).Append("</code></td><td>").Append(E(agent.Hostname)).Append("</td><td>")
                .Append(E(agent.ResourcePool)).Append("</td><td>").Append(agent.Devices.Count.ToString(CultureInfo.InvariantCulture)).Append("</td><td>")
                .Append(Time(agent.RegisteredTime)).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void Tasks(StringBuilder html, StatusView view)
    {
        html.Append("<h2>Tasks</h2>\n<table id=\"task-states\"><tr><th>State</th><th>Tasks</th></tr>\n");
        foreach (var group in view.Tasks.GroupBy(t => t.State, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            html.Append("<tr><td>").Append(E(group.Key)).Append("</td><td>").Append(group.Count().ToString(CultureInfo.InvariantCulture)).Append("</td></tr>\n");
        }

        html.Append(view.Tasks.Count == 0 ? "<tr><td colspan=\"2\" class=\"note\">no tasks</td></tr>\n" : string.Empty).Append("</table>\n");
        if (!view.Detailed)
        {
            html.Append("<p class=\"note\">Counts only: the agents and tasks one by one are listed for a user session (<code>Authorization: Bearer</code>, as <code>GET /api/v1/agents</code>).</p>\n");
            return;
        }

        html.Append("<table id=\"tasks\"><tr><th>Task</th><th>Description</th><th>State</th><th>Agent</th><th>Started</th></tr>\n");
        foreach (var task in view.Tasks)
        {
            html.Append("<tr><td><code>").Append(E(task.TaskId)).Append("</code></td><td>").Append(E(task.Description)).Append("</td><td>")
                .Append(E(task.State)).Append(task.ExitCode is { } code ? " (exit " + code.ToString(CultureInfo.InvariantCulture) + ")" : string.Empty)
                .Append("</td><td><code>").Append(E(task.AgentId)).Append("</code></td><td>").Append(Time(task.StartTime)).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void Certificates(StringBuilder html, StatusView view)
    {
        html.Append("<h2>TLS certificate</h2>\n");
        if (view.Served is null)
        {
            html.Append("<p id=\"tls\" class=\"bad\">TLS is off: this page and every API call travel in plain HTTP.</p>\n");
            return;
        }

        html.Append("<p id=\"tls\">Served from <code>security.tls.cert</code> to the next handshakes (reloaded without a restart when the files change). This connection: ")
            .Append(E(view.Protocol ?? "TLS"));
        if (view.Connection is { } connection)
        {
            var current = string.Equals(connection.Sha256Fingerprint, view.Served[0].Certificate.Sha256Fingerprint, StringComparison.Ordinal);
            html.Append(", served <code id=\"connection-fingerprint\">").Append(E(connection.Sha256Fingerprint)).Append("</code> ")
                .Append(current ? "<span class=\"ok\">(the current certificate)</span>" : "<span class=\"warn\">(before a renewal: a new connection gets the one below)</span>");
        }

        html.Append(".</p>\n");
        for (var i = 0; i < view.Served.Count; i++)
        {
            var (certificate, sent) = (view.Served[i].Certificate, view.Served[i].InHandshake);
            var role = i == 0 ? "leaf" : certificate.IsSelfIssued ? "root" : "intermediate";
            html.Append("<table class=\"cert\" id=\"cert-").Append(i.ToString(CultureInfo.InvariantCulture)).Append("\">")
                .Append("<tr><th>").Append(role).Append("</th><td>").Append(sent ? "sent in the handshake" : "<span class=\"note\">in the file, not sent in the handshake (.NET on Linux never sends a self-signed root)</span>").Append("</td></tr>")
                .Append("<tr><th>Subject</th><td class=\"subject\">").Append(E(certificate.Subject)).Append("</td></tr>")
                .Append("<tr><th>Issuer</th><td class=\"issuer\">").Append(E(certificate.Issuer)).Append("</td></tr>");
            if (i == 0 || certificate.Names.Any())
            {
                html.Append("<tr><th>Names (SAN)</th><td class=\"names\">")
                    .Append(certificate.Names.Any() ? string.Join(", ", certificate.Names.Select(n => "<code>" + E(n) + "</code>")) : "<span class=\"bad\">none: browsers and the SDK refuse it</span>")
                    .Append("</td></tr>");
            }

            html.Append("<tr><th>Valid</th><td>").Append(Time(certificate.NotBefore)).Append(" to <span class=\"expiry\">").Append(Time(certificate.NotAfter)).Append("</span> ")
                .Append(Expiry(certificate.NotAfter - view.Now)).Append("</td></tr>")
                .Append("<tr><th>SHA-256</th><td><code class=\"fingerprint\">").Append(E(certificate.Sha256Fingerprint)).Append("</code></td></tr></table>\n");
        }
    }

    private static string Expiry(TimeSpan left) =>
        left <= TimeSpan.Zero ? "<span class=\"bad\">(expired)</span>"
        : left < TimeSpan.FromDays(14) ? $"<span class=\"warn\">(expires in {Days(left)})</span>"
        : $"<span class=\"ok\">(in {Days(left)})</span>";

    private static string Days(TimeSpan left) => left.TotalDays >= 2
        ? ((int)left.TotalDays).ToString(CultureInfo.InvariantCulture) + " days"
        : ((int)Math.Ceiling(left.TotalHours)).ToString(CultureInfo.InvariantCulture) + " hours";

    private static string Count(int n, string what) => n.ToString(CultureInfo.InvariantCulture) + " " + what + (n == 1 ? string.Empty : "s");

    private static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>HTML-encodes a value for element text or a quoted attribute (<c>&lt; &gt; &amp; " '</c> and non-ASCII as references).</summary>
    private static string E(string? value) => WebUtility.HtmlEncode(value ?? string.Empty);
}
