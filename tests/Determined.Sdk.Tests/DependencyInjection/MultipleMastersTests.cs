using Determined.Security;
using Determined.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Determined.Sdk.Tests.DependencyInjection;

/// <summary>One app, two masters with different CAs: named clients, each with its own options, trust and token.</summary>
public sealed class MultipleMastersTests : IDisposable
{
    private readonly TestPki _a = new();
    private readonly TestPki _b = new();

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }

    private static HostApplicationBuilder Builder(IDictionary<string, string?> env, IDictionary<string, string?>? config = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(new DeterminedEnvironment(TestPki.Reader(env)));
        if (config is not null)
        {
            builder.Configuration.AddInMemoryCollection(config);
        }

        return builder;
    }

    [Fact]
    public async Task TwoNamedClients_TwoMastersWithDifferentCas_EachUsesItsOwnTrustAndToken()
    {
        await using var masterA = await FakeMaster.StartAsync(_a.CiLeaf, _a.Intermediate);
        await using var masterB = await FakeMaster.StartAsync(_b.CiLeaf, _b.Intermediate);

        // The process runs as a task of master A: the environment names A and carries A's tokens.
        var builder = Builder(_a.TaskEnvironment(masterA.Uri), new Dictionary<string, string?>
        {
            ["Determined:Clients:b:MasterUrl"] = masterB.Uri.ToString(),
            ["Determined:Clients:b:Tls:MasterCertificateFile"] = _b.RootFile,
            ["Determined:Clients:b:Tls:MasterCertificateName"] = "determined-master-ci",
        });
        builder.Services.AddDeterminedClient(); // the task's own master, from the environment
        builder.Services.AddDeterminedClient("b", o => o.Token = FakeMaster.UserToken); // options from Determined:Clients:b, then code
        builder.Services.AddDeterminedClient("a-explicit", o =>
        {
            o.MasterUrl = masterA.Uri.ToString();
            o.Tls.MasterCertificateFile = _a.RootFile;
            o.Tls.MasterCertificateName = "determined-master-ci";
            o.Token = FakeMaster.UserToken;
        });
        using var host = builder.Build();
        await host.StartAsync();
        var factory = host.Services.GetRequiredService<IDeterminedClientFactory>();

        // The default client: master A with the task's allocation token.
        var task = host.Services.GetRequiredService<DeterminedClient>();
        Assert.Equal("task-owner", (await task.GetCurrentUserAsync()).Username);
        Assert.Equal(masterA.Uri.Port, task.Settings.MasterUri.Port);

        // The named client "b": master B, B's CA, its own token; none of the task's environment (its tokens are A's).
        using var b = factory.CreateClient("b");
        Assert.Equal(masterB.Uri.Port, b.Settings.MasterUri.Port);
        Assert.False(b.Settings.HasAllocationToken);
        Assert.Equal(_b.Root.Thumbprint, Assert.Single(b.Settings.Tls.PinnedCertificates).Thumbprint);
        Assert.Equal("determined", (await b.GetCurrentUserAsync()).Username);
        Assert.Equal("Bearer " + FakeMaster.UserToken, masterB.LastAuthorization);
        Assert.True(string.IsNullOrEmpty(masterB.LastAllocationHeader)); // A's allocation token never went to B

        // Keyed services resolve the same named clients.
        var keyed = host.Services.GetRequiredKeyedService<DeterminedClient>("a-explicit");
        Assert.Equal("determined", (await keyed.GetCurrentUserAsync()).Username);
        Assert.Equal(masterA.Uri.Port, keyed.Settings.MasterUri.Port);

        Assert.Throws<InvalidOperationException>(() => factory.CreateClient("c"));
        await host.StopAsync();
    }

    [Fact]
    public async Task NamedClient_WithTheOtherMastersCa_IsRefused_AndInvalidNamedSettingsFailAtStartNamingTheClient()
    {
        await using var masterA = await FakeMaster.StartAsync(_a.CiLeaf, _a.Intermediate);
        var builder = Builder(new Dictionary<string, string?>());
        builder.Services.AddDeterminedClient("crossed", o =>
        {
            o.MasterUrl = masterA.Uri.ToString();
            o.Tls.MasterCertificateFile = _b.RootFile; // B's CA for A's master
            o.Tls.MasterCertificateName = "determined-master-ci";
        });
        using (var host = builder.Build())
        {
            await host.StartAsync();
            using var crossed = host.Services.GetRequiredService<IDeterminedClientFactory>().CreateClient("crossed");
            var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => crossed.GetInfoAsync());
            Assert.Equal(MasterConnectionError.UntrustedRoot, ex.Error);
            await host.StopAsync();
        }

        var broken = Builder(new Dictionary<string, string?>());
        broken.Services.AddDeterminedClient("broken", o => o.Tls.MasterCertificateFile = Path.Combine(_a.Directory, "missing.pem"));
        using var brokenHost = broken.Build();
        var failure = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => brokenHost.StartAsync());
        Assert.Contains(failure.Failures, f => f.StartsWith("Determined client 'broken': ", StringComparison.Ordinal) && f.Contains("missing.pem", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NamedClient_FromItsOwnSection_UsesThatSectionOnly()
    {
        await using var masterA = await FakeMaster.StartAsync(_a.CiLeaf, _a.Intermediate);
        var builder = Builder(new Dictionary<string, string?>(), new Dictionary<string, string?>
        {
            ["Other:MasterUrl"] = masterA.Uri.ToString(),
            ["Other:Tls:MasterCertificateFile"] = _a.RootFile,
            ["Other:Tls:MasterCertificateName"] = "determined-master-ci",
            ["Determined:Clients:fromsection:MasterUrl"] = "https://never-used.example.com:8443",
        });
        builder.Services.AddDeterminedClient("fromsection", builder.Configuration.GetSection("Other"));
        using var host = builder.Build();
        await host.StartAsync();

        using var client = host.Services.GetRequiredService<IDeterminedClientFactory>().CreateClient("fromsection");
        var info = await client.GetInfoAsync();

        Assert.Equal("0.0.0-test", info.Version);
        Assert.Contains(client.Settings.Provenance, x => x.Name == "MasterUrl" && x.Location.Contains("Other", StringComparison.Ordinal));
        await host.StopAsync();
    }
}
