using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using Determined.Samples.Master;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Api;
using Determined.Samples.Master.Configuration;
using Determined.Security;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// The sample master's status page without a browser: its headers, what an anonymous visitor and a user session see, and
/// peer-chosen text (an agent's id and host name) rendered as text. The browser's view: Browser/StatusPageBrowserTests.
/// </summary>
public sealed class StatusPageTests : IAsyncLifetime
{
    private const string Hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

    private readonly Cluster _pki = new(dnsOnlyName: false);

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await _pki.DisposeAsync();

    [Fact]
    public async Task StatusPage_IsHtmlWithTheSecurityHeaders_AndTheRootRedirectsToIt()
    {
        await using var master = await StartAsync();
        using var http = Client(master);

        using var page = await http.GetAsync("/status");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", page.Content.Headers.ContentType?.CharSet);
        Assert.Equal(StatusPageEndpoints.ContentSecurityPolicy, Single(page, "Content-Security-Policy"));
        Assert.StartsWith("default-src 'none'; style-src 'unsafe-inline'", StatusPageEndpoints.ContentSecurityPolicy, StringComparison.Ordinal);
        Assert.Equal("nosniff", Single(page, "X-Content-Type-Options"));
        Assert.Equal("no-store", Single(page, "Cache-Control"));
        Assert.Equal("no-referrer", Single(page, "Referrer-Policy"));
        Assert.Equal("DENY", Single(page, "X-Frame-Options"));
        var html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" src=", html, StringComparison.OrdinalIgnoreCase);

        using var root = await http.GetAsync("/");
        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal("/status", root.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task StatusPage_ListsAgentsAndTasksOnlyForAUserSession_AndEncodesWhatPeersChose()
    {
        await using var master = await StartAsync();
        using var socket = WebSocket.CreateFromStream(new MemoryStream(), new WebSocketCreationOptions { IsServer = true });
        Assert.True(master.Agents.TryRegister(new AgentConnection(Hostile, "host-" + Hostile, "default", "0.38.0", socket, clientCertificate: null)));
        using var http = Client(master);

        var anonymous = await http.GetStringAsync("/status");
        Assert.Contains("1 agent connected, 0 slots.", anonymous, StringComparison.Ordinal);
        Assert.DoesNotContain("alert", anonymous, StringComparison.Ordinal); // neither the id nor the host name, encoded or not
        Assert.DoesNotContain("id=\"agents\"", anonymous, StringComparison.Ordinal);

        var token = master.Auth.IssueUserToken("determined");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/status") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
        using var response = await http.SendAsync(request);
        var detailed = await response.Content.ReadAsStringAsync();
        Assert.Contains("<table id=\"agents\">", detailed, StringComparison.Ordinal);
        Assert.Contains("<code>" + WebUtility.HtmlEncode(Hostile) + "</code>", detailed, StringComparison.Ordinal);
        Assert.Contains("<td>host-" + WebUtility.HtmlEncode(Hostile) + "</td>", detailed, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", detailed, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", detailed, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(token, detailed, StringComparison.Ordinal);

        // A bogus credential is no session: the counts-only page, as for anyone.
        using var bogus = new HttpRequestMessage(HttpMethod.Get, "/status") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "not-a-token") } };
        using var bogusResponse = await http.SendAsync(bogus);
        Assert.DoesNotContain("alert", await bogusResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task<MasterHost> StartAsync() => await MasterHost.StartAsync(
        new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = _pki.MasterCertFile, TlsKey = _pki.MasterKeyFile },
        _ => null,
        logging: _ => { });

    private HttpClient Client(MasterHost master)
    {
        var factory = new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.CaFile })));
        var handler = factory.CreateHandler(master.Uri);
        return new HttpClient(handler) { BaseAddress = master.Uri };
    }

    private static string Single(HttpResponseMessage response, string header) =>
        Assert.Single(response.Headers.TryGetValues(header, out var values) ? values : response.Content.Headers.TryGetValues(header, out var content) ? content : []);
}
