using System.Text.Json;
using Determined.Testing;

namespace Determined.Security.Tests.Windows;

/// <summary>
/// What the Windows leg must prove (eng/windows-leg.sh runs this suite, published win-x64, under Wine): trust pinned by a
/// CA file with a name override, trust on first use into <c>%LOCALAPPDATA%\determined</c>, client certificates from PEM and
/// PKCS#12, the cipher-list refusal and Windows path spellings. Every case runs on Linux too, against an in-process
/// <see cref="WindowsLegFixture"/>; under Wine the fixture is the one the Linux side made, because Wine cannot make keys.
/// Assertions differ by platform only where Windows differs by design (the cipher list).
/// </summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class WindowsLegTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-windows-leg-").FullName;
    private WindowsLegFixture _fixture = null!;

    public async ValueTask InitializeAsync() => _fixture = await WindowsLegFixture.OpenAsync(Path.Combine(_dir, "fixture"));

    public async ValueTask DisposeAsync()
    {
        await _fixture.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private TlsOptions Pinned() => new() { MasterCertificateFile = _fixture.RootFile, MasterCertificateName = WindowsLegFixture.MasterName };

    [Fact]
    public async Task PinnedCaWithNameOverride_ReachesTheMasterByAddress_AndWithoutTheNameIsRefused()
    {
        Assert.Contains("0.0.0-test", await Clients.GetInfoAsync(Pinned(), _fixture.Master), StringComparison.Ordinal);

        var refused = await Record.ExceptionAsync(() => Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _fixture.RootFile }, _fixture.Master));

        var connection = Assert.IsType<MasterConnectionException>(refused?.GetBaseException() is MasterConnectionException m ? m : refused, exactMatch: false);
        Assert.Equal(MasterConnectionError.NameMismatch, connection.Error);
    }

    [Fact]
    public async Task TrustOnFirstUse_StoresCertsJsonInTheConfigDirectory_AndTheSecondContactUsesIt()
    {
        var home = Path.Combine(_dir, "profile");
        var directory = ConfigDirectory.For(new DeterminedEnvironment(name => name is "LOCALAPPDATA" or "XDG_CONFIG_HOME" or "HOME" or "USERPROFILE" ? home : null));
        if (OperatingSystem.IsWindows())
        {
            Assert.Equal(Path.Combine(home, "determined"), directory); // %LOCALAPPDATA%\determined, where Python's appdirs puts it
        }

        var options = new TlsOptions { MasterCertificateName = WindowsLegFixture.MasterName };
        var first = new Determined.Security.TrustOnFirstUse(new MasterCertificateStore(directory)) { ExpectedPin = CertificatePin.Parse(_fixture.LeafFingerprint) };
        Assert.Contains("0.0.0-test", await GetInfoAsync(first, options), StringComparison.Ordinal);

        var stored = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(directory, "certs.json")))!;
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", Assert.Single(stored).Value, StringComparison.Ordinal);
        var second = new Determined.Security.TrustOnFirstUse(new MasterCertificateStore(directory))
        {
            Prompt = (_, _) => throw new InvalidOperationException("the stored chain must be used without asking"),
        };
        Assert.Contains("0.0.0-test", await GetInfoAsync(second, options), StringComparison.Ordinal);
    }

    // Two facts, not a theory: under Wine each is skipped, and eng/windows-leg.sh runs each in its own process (see Wine.cs).
    [Fact]
    public async Task ClientCertificateFromPem_IsPresentedForMutualTls()
    {
        var options = Pinned();
        options.ClientCertificateFile = _fixture.ClientCertificateFile;
        options.ClientKeyFile = _fixture.ClientKeyFile;
        await AssertPresentedAsync(options);
    }

    [Fact]
    public async Task ClientCertificateFromPkcs12_IsPresentedForMutualTls()
    {
        var options = Pinned();
        options.ClientCertificateFile = _fixture.ClientPkcs12File;
        options.ClientCertificatePasswordFile = _fixture.ClientPasswordFile;
        await AssertPresentedAsync(options);
    }

    private async Task AssertPresentedAsync(TlsOptions options)
    {
        using var client = Clients.Create(WithClientKey(options), _fixture.MutualMaster);
        Assert.Equal(WindowsLegFixture.ClientSubject, await client.GetStringAsync("/client-subject"));
    }

    [Fact]
    public void CipherList_IsRefusedOnWindowsWithTheFix_AndAppliedElsewhere()
    {
        var options = new TlsOptions { CipherSuites = "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" };
        if (OperatingSystem.IsWindows())
        {
            var ex = Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(options));
            Assert.Contains("TlsOptions.CipherSuites is not supported on Windows", ex.Message, StringComparison.Ordinal);
            Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.NotNull(TlsPolicy.Create(options).CipherSuitesPolicy);
        }
    }

    [Fact]
    public async Task FileSettings_AcceptEverySpellingOfTheirPlatformsPaths()
    {
        List<Func<string, string>> spellings = [p => p, p => Path.GetRelativePath(Environment.CurrentDirectory, p)];
        if (OperatingSystem.IsWindows())
        {
            Assert.Matches(@"^[A-Za-z]:\\", Path.GetFullPath(_fixture.RootFile)); // a drive letter and backslashes
            spellings.Add(p => p.Replace('\\', '/'));
            spellings.Add(p => @"\\?\" + p);
        }

        var storeDirectory = Path.GetFullPath(Path.Combine(_dir, "store"));
        foreach (var spell in spellings)
        {
            var options = new TlsOptions { MasterCertificateFile = spell(Path.GetFullPath(_fixture.RootFile)), MasterCertificateName = WindowsLegFixture.MasterName };
            Assert.Contains("0.0.0-test", await Clients.GetInfoAsync(options, _fixture.Master), StringComparison.Ordinal);

            Assert.Equal(File.ReadAllText(_fixture.ClientPasswordFile).TrimEnd(), ReadPassword(spell(Path.GetFullPath(_fixture.ClientPasswordFile))));

            var key = $"https://{spellings.IndexOf(spell)}.example.com:8443";
            new MasterCertificateStore(spell(storeDirectory)).Set(key, File.ReadAllText(_fixture.RootFile));
            Assert.NotNull(new MasterCertificateStore(storeDirectory).Get(key));
        }
    }

    private static string? ReadPassword(string file)
    {
        var errors = new List<string>();
        var password = Secrets.Read(file, null, "the client key password", DeterminedEnvironment.Process, errors);
        Assert.Empty(errors);
        return password;
    }

    /// <summary>
    /// The policy with a client identity. Under Wine the key cannot be imported (its CNG): that, and only that, is a skip
    /// that quotes what the SDK reported.
    /// </summary>
    private static TlsOptions WithClientKey(TlsOptions options)
    {
        try
        {
            _ = TlsPolicy.Create(options);
            return options;
        }
        catch (DeterminedConfigurationException ex) when (Wine.IsRunning
            && ex.Message.Contains(Path.GetFileName(options.ClientKeyFile ?? options.ClientCertificateFile!), StringComparison.Ordinal)
            && ex.Message.Contains("cannot be loaded (", StringComparison.Ordinal))
        {
            throw Wine.Skip($"Wine {Wine.Version}'s CNG cannot import the client's private key, so SChannel has nothing to sign with; the SDK reported: {ex.Message}");
        }
    }

    private Task<string> GetInfoAsync(Determined.Security.TrustOnFirstUse tofu, TlsOptions options) =>
        tofu.ExecuteAsync(_fixture.Master, TlsPolicy.Create(options), async (policy, ct) =>
        {
            using var client = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(policy)).CreateHandler(_fixture.Master));
            return await client.GetStringAsync(new Uri(_fixture.Master, "/info"), ct);
        });
}
