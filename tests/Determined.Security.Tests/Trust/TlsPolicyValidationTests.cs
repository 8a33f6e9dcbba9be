using Determined.Testing;
using Microsoft.Extensions.Options;

namespace Determined.Security.Tests.Trust;

public sealed class TlsPolicyValidationTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void Create_PinnedFileWithSkipVerification_NamesBothSettingsBothEnvVarsAndFix()
    {
        var ex = Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile, DangerousSkipVerification = true }));

        var message = Assert.Single(ex.Failures);
        Assert.Contains("MasterCertificateFile", message, StringComparison.Ordinal);
        Assert.Contains("DangerousSkipVerification", message, StringComparison.Ordinal);
        Assert.Contains("DET_MASTER_CERT_FILE", message, StringComparison.Ordinal);
        Assert.Contains("DET_SECURITY_TLS_SKIP_VERIFY", message, StringComparison.Ordinal);
        Assert.Contains("cannot specify a master cert file with verification off", message, StringComparison.Ordinal);
        Assert.Contains("Fix:", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_NoVerifyWithPinnedPem_IsRejected()
    {
        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = "noverify", MasterCertificatePem = TestCertificates.Pem(_pki.Root) })).Failures);

        Assert.Contains("cannot specify a master cert file with verification off", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_NoVerifyWithName_IsAllowed()
    {
        var policy = TlsPolicy.Create(new TlsOptions { MasterCertificateFile = "NOVERIFY", MasterCertificateName = "master" });

        Assert.True(policy.DangerousSkipVerification);
        Assert.Equal("master", policy.MasterCertificateName);
    }

    [Fact]
    public void Create_MissingFile_NamesPathAndSetting()
    {
        var path = Path.Combine(_pki.Directory, "nope.crt");

        var ex = Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = path }));

        var message = Assert.Single(ex.Failures);
        Assert.Contains(path, message, StringComparison.Ordinal);
        Assert.Contains("does not exist", message, StringComparison.Ordinal);
        Assert.Contains("DET_MASTER_CERT_FILE", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_FileTheProcessMayNotRead_NamesPathCauseUserAndFix()
    {
        // A real permission failure: a 0600 root-owned certificate read by a process running as 'nobody' (root reads anything,
        // so the validation runs in a child process that drops to nobody with setpriv; the test needs root, as CI has).
        Assert.True(Environment.UserName == "root", "This test needs root: it creates a root-owned file and runs a child as 'nobody'.");
        var shared = Directory.CreateTempSubdirectory("det-unreadable-");
        try
        {
            File.SetUnixFileMode(shared.FullName, (UnixFileMode)0b111_101_101);
            var host = Path.Combine(shared.FullName, "host");
            var built = Path.GetDirectoryName(ChildProcess.ProjectDll("tests/Determined.TestHost", "Determined.TestHost"))!;
            foreach (var file in Directory.EnumerateFiles(built))
            {
                Directory.CreateDirectory(host);
                File.Copy(file, Path.Combine(host, Path.GetFileName(file)));
            }

            File.SetUnixFileMode(host, (UnixFileMode)0b111_101_101);
            var certificate = Path.Combine(shared.FullName, "master.crt");
            File.WriteAllText(certificate, TestCertificates.Pem(_pki.Root));
            File.SetUnixFileMode(certificate, UnixFileMode.UserRead | UnixFileMode.UserWrite);

            var child = await ChildProcess.RunAsync(
                "setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "dotnet", Path.Combine(host, "Determined.TestHost.dll"), "tls-policy", certificate],
                new Dictionary<string, string?> { ["HOME"] = shared.FullName, ["DOTNET_CLI_HOME"] = shared.FullName });

            Assert.True(child.ExitCode == 1, $"exit {child.ExitCode}; stdout: {child.Stdout}; stderr: {child.Stderr}");
            var message = child.Stdout.Trim();
            Assert.Contains($"The file '{certificate}' given by", message, StringComparison.Ordinal);
            Assert.Contains("cannot be read (UnauthorizedAccessException", message, StringComparison.Ordinal);
            Assert.Contains("Fix: check its permissions (the process runs as 'nobody')", message, StringComparison.Ordinal);
        }
        finally
        {
            shared.Delete(recursive: true);
        }
    }

    [Fact]
    public void Create_FileWithoutCertificates_SaysSoWithPath()
    {
        var path = _pki.Write("empty.pem", "hello\n");

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = path })).Failures);

        Assert.Contains(path, message, StringComparison.Ordinal);
        Assert.Contains("certificate file contains no certificates", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_DerFile_SuggestsConversionCommand()
    {
        var path = Path.Combine(_pki.Directory, "root.der");
        File.WriteAllBytes(path, _pki.Root.RawData);

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = path })).Failures);

        Assert.Contains("openssl x509 -inform der", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_TrustFileWithPrivateKey_IsRejectedWithoutPrintingTheKey()
    {
        var keyPem = TestCertificates.KeyPem(_pki.Leaf);
        var path = _pki.Write("with-key.pem", TestCertificates.Pem(_pki.Root) + keyPem);

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = path })).Failures);

        Assert.Contains("contains a private key", message, StringComparison.Ordinal);
        Assert.Contains(path, message, StringComparison.Ordinal);
        Assert.DoesNotContain(keyPem.Split('\n')[1], message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_SeveralProblems_ReportsEveryOne()
    {
        var ex = Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions
        {
            MasterCertificateFile = Path.Combine(_pki.Directory, "missing.pem"),
            MasterCertificatePem = TestCertificates.Pem(_pki.Root),
            DangerousSkipVerification = true,
            ClientKeyFile = "/tmp/key.pem",
        }));

        Assert.True(ex.Failures.Count >= 4, string.Join("\n", ex.Failures));
    }

    [Fact]
    public void Create_PinnedOnlyWithNothingPinned_IsRejected()
    {
        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { TrustMode = MasterTrustMode.PinnedOnly })).Failures);

        Assert.Contains("PinnedOnly", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_InlinePemAndDirectory_LoadAllCertificates()
    {
        var dir = Path.Combine(_pki.Directory, "cas");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "a.pem"), TestCertificates.Pem(_pki.Root));
        File.WriteAllText(Path.Combine(dir, "b.crt"), TestCertificates.Pem(_pki.Intermediate));
        File.WriteAllText(Path.Combine(dir, "ignored.txt"), "not a cert");

        Assert.Equal(2, TlsPolicy.Create(new TlsOptions { MasterCertificateFile = dir }).PinnedCertificates.Count);
        Assert.Equal(2, TlsPolicy.Create(new TlsOptions { MasterCertificatePem = TestCertificates.Pem(_pki.Root, _pki.Intermediate) }).PinnedCertificates.Count);
    }

    [Fact]
    public void Validator_ReportsTheSameFailuresAsCreate()
    {
        var options = new TlsOptions { MasterCertificateFile = Path.Combine(_pki.Directory, "missing.pem") };

        var result = new TlsOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Equal(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(options)).Failures, result.Failures);
    }

    [Fact]
    public void Resolve_EachMode_GivesSourceNameAndReason()
    {
        var root = _pki.RootFile;
        var https = new Uri("https://10.1.2.3:8443");

        Assert.Equal(TrustAnchors.SystemRoots, new CertificateTrustResolver(TlsPolicy.Default).Resolve(https).Anchors);
        Assert.Equal(TrustAnchors.PlainHttp, new CertificateTrustResolver(TlsPolicy.Default).Resolve(new Uri("http://h:8080")).Anchors);
        var added = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = root, MasterCertificateName = "master" })).Resolve(https);
        Assert.Equal(TrustAnchors.SystemRootsAndPinned, added.Anchors);
        Assert.Equal("master", added.ExpectedName);
        Assert.Contains(root, added.Reason, StringComparison.Ordinal);
        Assert.Contains("DET_MASTER_CERT_NAME", added.Reason, StringComparison.Ordinal);
        Assert.Equal(TrustAnchors.PinnedOnly, new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = root, TrustMode = MasterTrustMode.PinnedOnly })).Resolve(https).Anchors);
        Assert.Equal(TrustAnchors.DangerousNone, new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = "noverify" })).Resolve(https).Anchors);
    }

    [Theory]
    [InlineData(" noverify")]
    [InlineData("noverify ")]
    [InlineData("noverify\n")]
    public void NoVerifyWithSurroundingWhitespace_IsAPath_NeverSkipVerification(string value)
    {
        // Upstream compares cert_file.lower() == "noverify": anything else is a path. A padded value never turns verification off.
        var ex = Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = value }));

        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
        Assert.True(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = "NoVerify" }).DangerousSkipVerification);
    }

    [Theory]
    [InlineData("*")]
    [InlineData("*.example.com")]
    [InlineData("bad name")]
    [InlineData("host:1")]
    [InlineData("master\r\nX-Injected: 1")]
    [InlineData("master\n")]
    [InlineData(" master")]
    [InlineData("https://master")]
    [InlineData("master/path")]
    [InlineData("under_score.example.com")]
    [InlineData("-leading.example.com")]
    [InlineData("1.2.3.04")]
    [InlineData("[10.0.0.1]")]
    [InlineData("[::1]:8443")]
    [InlineData("fe80::1%eth0")]
    public void Create_MasterCertificateNameThatIsNotOneHostOrAddress_IsASettingsErrorNamingEverySource(string name)
    {
        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateName = name })).Failures);

        Assert.Contains("TlsOptions.MasterCertificateName", message, StringComparison.Ordinal);
        Assert.Contains("DET_MASTER_CERT_NAME", message, StringComparison.Ordinal);
        Assert.Contains("security.tls.master_cert_name", message, StringComparison.Ordinal);
        Assert.Contains("Fix:", message, StringComparison.Ordinal);
        Assert.DoesNotContain("\r", message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("determined-master-ci")]
    [InlineData("master.example.com")]
    [InlineData("master.example.com.")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("10.0.0.5")]
    [InlineData("::1")]
    [InlineData("[2001:db8::1]")]
    public void Create_MasterCertificateNameThatIsOneHostOrAddress_IsKeptExactly(string name)
    {
        var policy = TlsPolicy.Create(new TlsOptions { MasterCertificateName = name });

        Assert.Equal(name, policy.MasterCertificateName);
        Assert.Equal(name, new CertificateTrustResolver(policy).Resolve(new Uri("https://10.1.2.3:8443")).ExpectedName);
    }

    public static TheoryData<string, string> SpecialFiles => new()
    {
        { "dev-zero", "MasterCertificateFile" }, { "fifo", "MasterCertificateFile" }, { "dir-with-fifo", "MasterCertificateFile" }, { "directory", "ClientKeyFile" },
        { "dev-zero", "ClientCertificateFile" }, { "fifo", "ClientKeyFile" }, { "fifo", "ClientCertificatePasswordFile" }, { "dev-zero", "MasterCertificatePasswordFile" },
        { "symlink-to-fifo", "MasterCertificateFile" }, { "symlink-to-dev-zero", "ClientKeyFile" }, { "dir-with-symlink-to-fifo", "MasterCertificateFile" },
    };

    [Theory]
    [MemberData(nameof(SpecialFiles))]
    public async Task Create_DeviceFifoOrDirectoryAsACredentialFile_IsAClearErrorNamingTheSetting_NeverAHang(string kind, string setting)
    {
        var path = kind switch
        {
            "dev-zero" => "/dev/zero",
            "fifo" => await MakeFifoAsync(Path.Combine(_pki.Directory, "credential.pem")),
            "dir-with-fifo" => Path.GetDirectoryName(await MakeFifoAsync(Path.Combine(_pki.Directory, "trust.d", "x.pem")))!,
            "symlink-to-fifo" => Link(Path.Combine(_pki.Directory, "link.pem"), await MakeFifoAsync(Path.Combine(_pki.Directory, "target.fifo"))),
            "symlink-to-dev-zero" => Link(Path.Combine(_pki.Directory, "zero.pem"), "/dev/zero"),
            "dir-with-symlink-to-fifo" => Path.GetDirectoryName(Link(Path.Combine(_pki.Directory, "links.d", "ca.pem"), await MakeFifoAsync(Path.Combine(_pki.Directory, "other.fifo"))))!,
            _ => _pki.Directory,
        };
        var good = _pki.RootFile;
        var options = setting switch
        {
            "MasterCertificateFile" => new TlsOptions { MasterCertificateFile = path },
            "ClientCertificateFile" => new TlsOptions { ClientCertificateFile = path },
            "ClientKeyFile" => new TlsOptions { ClientCertificateFile = good, ClientKeyFile = path },
            "ClientCertificatePasswordFile" => new TlsOptions { ClientCertificatePasswordFile = path },
            _ => new TlsOptions { MasterCertificatePasswordFile = path },
        };

        var create = Task.Run(() => Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(options)));
        var ex = await create.WaitAsync(TimeSpan.FromSeconds(60)); // a hang guard: the real figure is milliseconds

        var message = string.Join(" ", ex.Failures);
        Assert.Contains(path, message, StringComparison.Ordinal);
        Assert.True(message.Contains(setting, StringComparison.Ordinal) || message.Contains("password", StringComparison.Ordinal), message);
        Assert.Contains("Fix:", message, StringComparison.Ordinal);
    }

    private static string Link(string path, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.CreateSymbolicLink(path, target);
        return path;
    }

    private static async Task<string> MakeFifoAsync(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var result = await ChildProcess.RunAsync("mkfifo", [path], timeout: TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, "mkfifo failed: " + result.Stderr);
        return path;
    }

    [Fact]
    public void ResolverMethods_RelativeUrl_AreArgumentExceptions()
    {
        var resolver = new CertificateTrustResolver(TlsPolicy.Default);
        var relative = new Uri("/api/v1/master", UriKind.Relative);

        Assert.Throws<ArgumentException>(() => resolver.Resolve(relative));
        Assert.Throws<ArgumentException>(() => resolver.CreateSslClientAuthenticationOptions(relative));
        Assert.Throws<ArgumentException>(() => resolver.ValidateCertificate(relative, _pki.Leaf));
    }
}
