using Determined.Security;
using Determined.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Determined.Sdk.Tests.DependencyInjection;

public sealed class AddDeterminedClientTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private static HostApplicationBuilder Builder(IDictionary<string, string?>? env = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(new DeterminedEnvironment(TestPki.Reader(env ?? new Dictionary<string, string?>())));
        return builder;
    }

    [Fact]
    public async Task EnvironmentOnly_ResolvesAWorkingClient()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var builder = Builder(_pki.TaskEnvironment(new Uri($"https://127.0.0.1:{master.Uri.Port}")));
        builder.Services.AddDeterminedClient();
        using var host = builder.Build();
        await host.StartAsync();

        var client = host.Services.GetRequiredService<DeterminedClient>();
        var me = await client.GetCurrentUserAsync();

        Assert.Equal("task-owner", me.Username);
        await host.StopAsync();
    }

    [Fact]
    public async Task StartUp_ResolvesTheSettingsOnce_ForValidationAndTheClient()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var env = _pki.TaskEnvironment(new Uri($"https://127.0.0.1:{master.Uri.Port}"));
        var reads = 0;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(new DeterminedEnvironment(name =>
        {
            if (name == DeterminedEnvironment.MasterCertFile)
            {
                Interlocked.Increment(ref reads);
            }

            return env.TryGetValue(name, out var value) ? value : null;
        }));
        builder.Services.AddDeterminedClient();
        using var host = builder.Build();
        await host.StartAsync();

        var client = host.Services.GetRequiredService<DeterminedClient>();

        Assert.Equal("task-owner", (await client.GetCurrentUserAsync()).Username);
        Assert.Same(client.Settings, host.Services.GetRequiredService<DeterminedConnectionSettings>());
        Assert.Equal(1, reads); // validation resolved the settings (and read the TLS files); the client reuses that result
        await host.StopAsync();
    }

    [Fact]
    public async Task MissingCertFile_IsWarnedAboutOnce_ThroughTheAppsLoggers()
    {
        using var logs = new FakeLoggerFactory();
        var env = _pki.TaskEnvironment(new Uri("https://127.0.0.1:1"));
        var missing = Path.Combine(_pki.Directory, "missing.crt");
        env["DET_MASTER_CERT_FILE"] = missing;
        var builder = Builder(env);
        builder.Services.AddSingleton<Microsoft.Extensions.Logging.ILoggerFactory>(logs);
        builder.Services.AddDeterminedClient();
        using var host = builder.Build();
        await host.StartAsync();

        _ = host.Services.GetRequiredService<DeterminedClient>();

        var warning = Assert.Single(logs.Records, r => r.Id.Name == "MissingCertFile");
        Assert.Contains(missing, warning.Message, StringComparison.Ordinal);
        Assert.Equal("Determined.Sdk", warning.Category);
        await host.StopAsync();
    }

    [Fact]
    public async Task ConfigurationSection_ResolvesAWorkingClient_AndReportsConfigKeysAsSources()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var builder = Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Determined:MasterUrl"] = master.Uri.ToString(),
            ["Determined:Tls:MasterCertificateFile"] = _pki.RootFile,
            ["Determined:Tls:MasterCertificateName"] = "determined-master-ci",
            ["Determined:UseTokenStore"] = "false",
        });
        builder.Services.AddDeterminedClient();
        using var host = builder.Build();

        var client = host.Services.GetRequiredService<DeterminedClient>();

        Assert.Equal("test", (await client.GetMasterAsync()).ClusterName);
        Assert.Contains(client.Settings.Provenance, s => s.Origin == SettingOrigin.Configuration && s.Location == "Determined:Tls:MasterCertificateFile");
    }

    [Fact]
    public async Task ConfiguredMasterThatIsDown_TheErrorNamesTheConfigurationKey()
    {
        var builder = Builder();
        var url = $"https://127.0.0.1:{Determined.Testing.HostileServer.ClosedPort()}";
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Determined:MasterUrl"] = url,
            ["Determined:UseTokenStore"] = "false",
            ["Determined:Timeout"] = "00:00:01",
        });
        builder.Services.AddDeterminedClient();
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<DeterminedClient>();

        var ex = await Assert.ThrowsAsync<MasterConnectionException>(() => client.GetMasterAsync());

        Assert.Equal(MasterConnectionError.ConnectionRefused, ex.Error);
        Assert.Contains($"The master URL '{url}' comes from the configuration key Determined:MasterUrl.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lambda_ResolvesAWorkingClient_AndCallingTwiceIsHarmless()
    {
        await using var master = await FakeMaster.StartAsync(_pki.CiLeaf, _pki.Intermediate);
        var builder = Builder();
        builder.Services.AddDeterminedClient(o =>
        {
            o.MasterUrl = master.Uri.ToString();
            o.Tls.MasterCertificateFile = _pki.RootFile;
            o.Tls.MasterCertificateName = "determined-master-ci";
            o.UseTokenStore = false;
        });
        builder.Services.AddDeterminedClient();
        using var host = builder.Build();

        var first = host.Services.GetRequiredService<DeterminedClient>();
        var second = host.Services.GetRequiredService<DeterminedClient>();

        Assert.Equal("0.0.0-test", (await first.GetMasterAsync()).Version);
        Assert.Equal("0.0.0-test", (await second.GetMasterAsync()).Version);
        Assert.Single(host.Services.GetServices<IValidateOptions<DeterminedClientOptions>>().OfType<DeterminedClientOptionsValidator>());
    }

    [Fact]
    public async Task InvalidSettings_FailAtStart_ListingEveryProblem()
    {
        var builder = Builder();
        builder.Services.AddDeterminedClient(o =>
        {
            o.MasterUrl = "http://host?query";
            o.MaxRetries = 99;
            o.Tls.MasterCertificateFile = Path.Combine(_pki.Directory, "missing.crt");
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(3, ex.Failures.Count());
        Assert.Contains(ex.Failures, f => f.Contains("query", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("MaxRetries", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("missing.crt", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PlainTextPasswordInConfiguration_IsRefusedAtStart()
    {
        var builder = Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Determined:MasterUrl"] = "https://m:8443",
            ["Determined:Tls:ClientCertificatePassword"] = "hunter2",
        });
        builder.Services.AddDeterminedClient();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        var failure = Assert.Single(ex.Failures);
        Assert.Contains("Determined:Tls:ClientCertificatePassword", failure, StringComparison.Ordinal);
        Assert.Contains("ClientCertificatePasswordFile", failure, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void ReturnsHttpClientBuilderNamedDetermined_WithALongLivedHandler()
    {
        var services = new ServiceCollection();

        var builder = services.AddDeterminedClient();

        Assert.Equal(DeterminedServiceCollectionExtensions.HttpClientName, builder.Name);
        using var provider = services.BuildServiceProvider();
        var factoryOptions = provider.GetRequiredService<IOptionsMonitor<Microsoft.Extensions.Http.HttpClientFactoryOptions>>().Get(builder.Name);
        Assert.Equal(Timeout.InfiniteTimeSpan, factoryOptions.HandlerLifetime);
    }
}
