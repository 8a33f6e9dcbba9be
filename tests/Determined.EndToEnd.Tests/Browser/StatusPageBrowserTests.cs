using System.Net;
using Determined.Samples.Master;
using Determined.Samples.Master.Configuration;
using Determined.Security;
using Determined.Testing;

namespace Determined.EndToEnd.Tests.Browser;

/// <summary>
/// The sample master's status page (<c>GET /status</c>) as a browser judges its TLS: Debian's headless Chromium, the
/// development root trusted (or not) through a temporary NSS database, <c>master.test</c> resolved to 127.0.0.1.
/// </summary>
[Trait("Category", "Browser")]
public sealed class StatusPageBrowserTests(ITestOutputHelper output) : IDisposable
{
    private const string Host = "master.test";

    /// <summary>A name with markup: the browser must show it as text, never as an element.</summary>
    private const string ClusterName = "browser <b>cluster</b> & co";

    private readonly string _directory = Directory.CreateTempSubdirectory("det-browser-e2e-").FullName;
    private readonly DevelopmentCertificateAuthority _ca = DevelopmentCertificateAuthority.Create("Browser E2E Root CA", withIntermediate: true);

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task StatusPage_WithTheDevelopmentRootTrusted_LoadsAndShowsTheClusterAndTheServedCertificate()
    {
        using var leaf = _ca.IssueServerCertificate([Host]);
        await using var master = await StartMasterAsync(leaf);
        using var browser = await HeadlessChromium.CreateAsync($"MAP {Host} 127.0.0.1", RootFile());

        var run = await browser.DumpDomAsync(PageUri(master));
        output.WriteLine($"chromium: exit {run.ExitCode}, {run.Elapsed.TotalSeconds:0.0} s, load error {run.LoadError ?? "none"}");

        Assert.True(run.LoadError is null, $"the page did not load: {run.LoadError}\n{run.Log}");
        Assert.Contains("<span id=\"cluster-name\">browser &lt;b&gt;cluster&lt;/b&gt; &amp; co</span>", run.Dom, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>cluster</b>", run.Dom, StringComparison.Ordinal);
        Assert.Contains($"<td class=\"names\"><code>{Host}</code></td>", run.Dom, StringComparison.Ordinal);
        Assert.Contains($"<td class=\"subject\">{leaf.Certificate.Subject}</td>", run.Dom, StringComparison.Ordinal);
        Assert.Contains($"<td class=\"subject\">{_ca.IntermediateCertificate!.Subject}</td>", run.Dom, StringComparison.Ordinal);
        Assert.Contains(CertificatePin.Sha256Fingerprint(leaf.Certificate), run.Dom, StringComparison.Ordinal);
        Assert.Contains("(the current certificate)", run.Dom, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusPage_WithoutTheDevelopmentRoot_IsRefusedWithCertAuthorityInvalid()
    {
        using var leaf = _ca.IssueServerCertificate([Host]);
        await using var master = await StartMasterAsync(leaf);
        using var browser = await HeadlessChromium.CreateAsync($"MAP {Host} 127.0.0.1"); // an NSS database without the root

        var run = await browser.DumpDomAsync(PageUri(master));
        output.WriteLine($"chromium: exit {run.ExitCode}, {run.Elapsed.TotalSeconds:0.0} s, load error {run.LoadError ?? "none"}");

        Assert.True(run.LoadError == "net::ERR_CERT_AUTHORITY_INVALID", $"expected net::ERR_CERT_AUTHORITY_INVALID, got {run.LoadError ?? "a loaded page"}\n{run.Log}");
        Assert.DoesNotContain("cluster-name", run.Dom, StringComparison.Ordinal);
        Assert.DoesNotContain(CertificatePin.Sha256Fingerprint(leaf.Certificate), run.Dom, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusPage_AfterACertificateRenewal_ANewLoadIsServedAndShowsTheNewCertificate()
    {
        using var first = _ca.IssueServerCertificate([Host]);
        using var renewed = _ca.IssueServerCertificate([Host]);
        await using var master = await StartMasterAsync(first);
        using var browser = await HeadlessChromium.CreateAsync($"MAP {Host} 127.0.0.1", RootFile());
        var (oldPrint, newPrint) = (CertificatePin.Sha256Fingerprint(first.Certificate), CertificatePin.Sha256Fingerprint(renewed.Certificate));

        var before = await browser.DumpDomAsync(PageUri(master));
        Assert.True(before.LoadError is null, $"the page did not load: {before.LoadError}\n{before.Log}");
        Assert.Contains($"<code id=\"connection-fingerprint\">{oldPrint}</code>", before.Dom, StringComparison.Ordinal);

        // Renewed as MasterRotationTests' "rename-over" style: new files renamed over the served ones, key first.
        var (certFile, keyFile) = Files();
        renewed.WritePemFiles(certFile + ".new", keyFile + ".new");
        File.Move(keyFile + ".new", keyFile, overwrite: true);
        File.Move(certFile + ".new", certFile, overwrite: true);
        await Eventually.WaitAsync(
            async () => (await MasterProbe.ProbeAsync(master.Uri)).PresentedChain[0].Thumbprint == renewed.Certificate.Thumbprint, "the renewed certificate to be served");

        var after = await browser.DumpDomAsync(PageUri(master));
        output.WriteLine($"chromium: {before.Elapsed.TotalSeconds:0.0} s before, {after.Elapsed.TotalSeconds:0.0} s after the renewal");

        Assert.True(after.LoadError is null, $"the page did not load after the renewal: {after.LoadError}\n{after.Log}");
        Assert.Contains($"<code id=\"connection-fingerprint\">{newPrint}</code>", after.Dom, StringComparison.Ordinal);
        Assert.Contains($"<code class=\"fingerprint\">{newPrint}</code>", after.Dom, StringComparison.Ordinal);
        Assert.DoesNotContain(oldPrint, after.Dom, StringComparison.Ordinal);
        Assert.Contains("(the current certificate)", after.Dom, StringComparison.Ordinal);
    }

    private static Uri PageUri(MasterHost master) => new($"https://{Host}:{master.Uri.Port}/status");

    private (string Cert, string Key) Files() => (Path.Combine(_directory, "tls.crt"), Path.Combine(_directory, "tls.key"));

    private string RootFile()
    {
        var path = Path.Combine(_directory, "root.pem");
        _ca.WriteRootCertificate(path);
        return path;
    }

    private async Task<MasterHost> StartMasterAsync(DevelopmentCertificate certificate)
    {
        var (cert, key) = Files();
        certificate.WritePemFiles(cert, key);
        return await MasterHost.StartAsync(
            new MasterConfig { Port = 0, ListenAddress = IPAddress.Loopback, TlsCert = cert, TlsKey = key, ClusterName = ClusterName },
            _ => null,
            logging: _ => { });
    }
}
