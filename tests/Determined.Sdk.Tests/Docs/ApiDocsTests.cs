using Determined.Security;
using Determined.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Determined.Sdk.Tests.Docs;

/// <summary>docs/API.md shows, verbatim, the examples compiled in <see cref="ApiExamples"/>; the runnable ones run against real TLS servers.</summary>
[Trait("Wine", Wine.ProductMakesKeys)]
public sealed class ApiDocsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-api-docs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Normalize(string text) => string.Join("\n", text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    [Theory]
    [InlineData("TaskAuthor")]
    [InlineData("AgentAuthor")]
    [InlineData("CliAuthor")]
    [InlineData("ServiceAuthor")]
    public void ApiPage_ShowsTheCompiledExample(string region)
    {
        var root = ChildProcess.RepoRoot();
        var source = File.ReadAllText(Path.Combine(root, "tests/Determined.Sdk.Tests/Docs/ApiExamples.cs"));
        var start = source.IndexOf("#region " + region, StringComparison.Ordinal);
        var end = source.IndexOf("#endregion", start, StringComparison.Ordinal);
        var code = Normalize(source[source.IndexOf('\n', start)..end]);
        var page = Normalize(File.ReadAllText(Path.Combine(root, "docs/API.md")));

        Assert.True(code.Split('\n').Length >= 4, region);
        Assert.Contains(code, page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AgentExample_ReachesAMasterWithItsCaNameAndClientCertificate()
    {
        using var ca = DevelopmentCertificateAuthority.Create("Docs CA", withIntermediate: true);
        using var server = ca.IssueServerCertificate(["determined-master-ci"]);
        using var agent = ca.IssueClientCertificate("agent-1");
        var caFile = Path.Combine(_dir, "ca.crt");
        ca.WriteRootCertificate(caFile);
        agent.WritePemFiles(Path.Combine(_dir, "agent.crt"), Path.Combine(_dir, "agent.key"));
        await using var master = await TlsTestServer.StartAsync(server.Certificate, [.. server.Intermediates]);

        var info = await ApiExamples.AgentAuthorAsync(master.Uri, caFile, Path.Combine(_dir, "agent.crt"), Path.Combine(_dir, "agent.key"), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, CancellationToken.None);

        Assert.Contains("0.0.0-test", info, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliExample_AsksOnce_ThenRemembersTheMaster()
    {
        using var ca = DevelopmentCertificateAuthority.Create("Docs CLI CA", withIntermediate: true);
        using var server = ca.IssueServerCertificate(["localhost"], [System.Net.IPAddress.Loopback]);
        await using var master = await TlsTestServer.StartAsync(server.Certificate, [.. server.Intermediates]);
        var asked = new List<string>();
        var uri = new Uri($"https://localhost:{master.Uri.Port}");

        var first = await ApiExamples.CliAuthorAsync(uri, _dir, prompt => { asked.Add(prompt); return true; }, CancellationToken.None);
        var second = await ApiExamples.CliAuthorAsync(uri, _dir, prompt => { asked.Add(prompt); return true; }, CancellationToken.None);

        Assert.Contains("0.0.0-test", first, StringComparison.Ordinal);
        Assert.Contains("0.0.0-test", second, StringComparison.Ordinal);
        Assert.Contains(CertificatePin.Sha256Fingerprint(server.Certificate), Assert.Single(asked), StringComparison.Ordinal);
    }

    [Fact]
    public void ServiceExample_RegistersTheDefaultAndANamedClient()
    {
        using var host = ApiExamples.ServiceAuthor([]);
        var training = host.Services.GetRequiredService<IDeterminedClientFactory>().CreateClient("training");

        Assert.Equal("https://training.example.com:8443/", training.Settings.MasterUri.ToString());
        Assert.NotNull(host.Services.GetRequiredKeyedService<DeterminedClient>("training"));
    }
}
