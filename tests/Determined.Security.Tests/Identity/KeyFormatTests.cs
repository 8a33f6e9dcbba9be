using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Determined.Security.Tests.Identity;

/// <summary>Client identities and trust stores in every format users bring (files made by real openssl and keytool).</summary>
public sealed class KeyFormatTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private string Openssl(params string[] args) => TestCertificates.Run(_pki.Directory, args);

    private string P(string name) => Path.Combine(_pki.Directory, name);

    private Task<TlsTestServer> MutualServerAsync() => TlsTestServer.StartAsync(new TlsTestServer.Options
    {
        Certificate = _pki.Leaf,
        Chain = [_pki.Intermediate],
        ClientCertificates = ClientCertificateMode.RequireCertificate,
    });

    private async Task<string?> ConnectAsync(TlsOptions options)
    {
        await using var server = await MutualServerAsync();
        options.MasterCertificateFile ??= _pki.RootFile;
        await Clients.GetInfoAsync(options, server.Uri);
        return server.LastClientCertificateSubject;
    }

    private void SelfSigned(string algorithm, string name)
    {
        Openssl(["genpkey", "-algorithm", algorithm, .. algorithm == "EC" ? new[] { "-pkeyopt", "ec_paramgen_curve:P-256" } : ["-pkeyopt", "rsa_keygen_bits:2048"], "-out", name + ".key"]);
        Openssl("req", "-x509", "-new", "-key", name + ".key", "-subj", "/CN=" + name, "-days", "2", "-addext", "extendedKeyUsage=clientAuth", "-out", name + ".crt");
    }

    [Theory]
    [InlineData("RSA")]
    [InlineData("EC")]
    public async Task OpenSslGenpkeyAndReqX509_SeparatePemFiles_MutualTlsSucceeds(string algorithm)
    {
        SelfSigned(algorithm, "agent-" + algorithm.ToLowerInvariant());

        var subject = await ConnectAsync(new TlsOptions { ClientCertificateFile = P($"agent-{algorithm.ToLowerInvariant()}.crt"), ClientKeyFile = P($"agent-{algorithm.ToLowerInvariant()}.key") });

        Assert.Equal($"CN=agent-{algorithm.ToLowerInvariant()}", subject);
    }

    [Fact]
    public async Task Pkcs1AndSec1Keys_AndCombinedPem_Work()
    {
        SelfSigned("RSA", "rsa1");
        Openssl("rsa", "-in", "rsa1.key", "-traditional", "-out", "rsa1.pkcs1.key");
        SelfSigned("EC", "ec1");
        Openssl("ec", "-in", "ec1.key", "-out", "ec1.sec1.key");
        File.WriteAllText(P("combined.pem"), File.ReadAllText(P("ec1.crt")) + File.ReadAllText(P("ec1.sec1.key")));
        Assert.Contains("BEGIN RSA PRIVATE KEY", File.ReadAllText(P("rsa1.pkcs1.key")), StringComparison.Ordinal);
        Assert.Contains("BEGIN EC PRIVATE KEY", File.ReadAllText(P("ec1.sec1.key")), StringComparison.Ordinal);

        Assert.Equal("CN=rsa1", await ConnectAsync(new TlsOptions { ClientCertificateFile = P("rsa1.crt"), ClientKeyFile = P("rsa1.pkcs1.key") }));
        Assert.Equal("CN=ec1", await ConnectAsync(new TlsOptions { ClientCertificateFile = P("combined.pem") }));
    }

    [Fact]
    public async Task EncryptedPkcs8_WithPasswordFile_Works_WrongPasswordNamesTheFile()
    {
        SelfSigned("EC", "enc");
        File.WriteAllText(P("pass.txt"), "s3cret-PASS\n");
        File.WriteAllText(P("wrong.txt"), "nope\n");
        Openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "enc.key", "-passout", "file:" + P("pass.txt"), "-out", "enc.p8.pem");
        Assert.Contains("ENCRYPTED PRIVATE KEY", File.ReadAllText(P("enc.p8.pem")), StringComparison.Ordinal);

        Assert.Equal("CN=enc", await ConnectAsync(new TlsOptions { ClientCertificateFile = P("enc.crt"), ClientKeyFile = P("enc.p8.pem"), ClientCertificatePasswordFile = P("pass.txt") }));

        var wrong = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("enc.crt"), ClientKeyFile = P("enc.p8.pem"), ClientCertificatePasswordFile = P("wrong.txt") })).Failures);
        Assert.Contains(P("enc.p8.pem"), wrong, StringComparison.Ordinal);
        Assert.Contains("password", wrong, StringComparison.Ordinal);
        Assert.Contains("is wrong", wrong, StringComparison.Ordinal);
        Assert.DoesNotContain("nope", wrong, StringComparison.Ordinal);
        var missing = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("enc.crt"), ClientKeyFile = P("enc.p8.pem") })).Failures);
        Assert.Contains("ClientCertificatePasswordFile", missing, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pkcs12Keystore_FromOpenSsl_WithPasswordVariable_Works(bool withIntermediates)
    {
        var client = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = "p12-agent", Usages = [TestCertificates.ClientAuth], Dns = [], Ips = [] });
        File.WriteAllText(P("c.crt"), TestCertificates.Pem(client));
        File.WriteAllText(P("c.key"), TestCertificates.KeyPem(client));
        File.WriteAllText(P("chain.crt"), TestCertificates.Pem(_pki.Intermediate));
        var variable = "DET_TEST_P12_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, "p12-PASS");
        Openssl(["pkcs12", "-export", "-in", "c.crt", "-inkey", "c.key", .. withIntermediates ? new[] { "-certfile", "chain.crt" } : [], "-passout", "env:" + variable, "-out", "agent.p12"]);

        var policy = TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("agent.p12"), ClientCertificatePasswordVariable = variable });
        Assert.True(policy.ClientCertificate!.HasPrivateKey);
        Assert.Equal("CN=p12-agent", await ConnectAsync(new TlsOptions { ClientCertificateFile = P("agent.p12"), ClientCertificatePasswordVariable = variable }));

        Environment.SetEnvironmentVariable(variable, "wrong");
        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("agent.p12"), ClientCertificatePasswordVariable = variable })).Failures);
        Assert.Contains("agent.p12' is wrong", message, StringComparison.Ordinal);
        Environment.SetEnvironmentVariable(variable, null);
        message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("agent.p12"), ClientCertificatePasswordVariable = variable })).Failures);
        Assert.Contains($"'{variable}' that should hold the password is not set", message, StringComparison.Ordinal);
    }

    [Fact]
    public void PasswordVariable_IsReadThroughTheInjectedEnvironment_NotTheProcess_AndAgainOnReload()
    {
        var client = TestCertificates.CreateLeaf(_pki.Intermediate, new() { CommonName = "p12-injected", Usages = [TestCertificates.ClientAuth], Dns = [], Ips = [] });
        File.WriteAllText(P("i.crt"), TestCertificates.Pem(client));
        File.WriteAllText(P("i.key"), TestCertificates.KeyPem(client));
        var variable = "DET_TEST_P12_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, "inj-PASS");
        Openssl(["pkcs12", "-export", "-in", "i.crt", "-inkey", "i.key", "-passout", "env:" + variable, "-out", "injected.p12"]);
        Environment.SetEnvironmentVariable(variable, null);
        var options = new TlsOptions { ClientCertificateFile = P("injected.p12"), ClientCertificatePasswordVariable = variable };
        var environment = new DeterminedEnvironment(name => name == variable ? "inj-PASS" : null);

        var policy = TlsPolicy.Create(options, environment);

        Assert.True(policy.ClientCertificate!.HasPrivateKey);
        Assert.NotNull(policy.TryReload([]));
        var failures = Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(options)).Failures;
        Assert.Contains($"'{variable}' that should hold the password is not set", Assert.Single(failures), StringComparison.Ordinal);
    }

    [Fact]
    public void Pkcs12_WithoutKey_AsIdentity_SaysWhatItHolds()
    {
        File.WriteAllText(P("ca.crt"), TestCertificates.Pem(_pki.Root));
        File.WriteAllText(P("pass"), "x\n");
        Openssl("pkcs12", "-export", "-nokeys", "-in", "ca.crt", "-passout", "file:" + P("pass"), "-out", "trust.p12");

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("trust.p12"), ClientCertificatePasswordFile = P("pass") })).Failures);

        Assert.Contains("holds no private key", message, StringComparison.Ordinal);
        Assert.Contains("CN=Test Root CA", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pkcs12_FilePasswordRightButTheKeyUnderAnother_NamesBothCausesNotAWrongPassword()
    {
        // keytool -storepass x -keypass y: the MAC checks out with the file's password, the key does not open with it. The
        // same message covers a platform that cannot import the key (Wine's CNG, which reports "Success.").
        using var key = _pki.Leaf.GetECDsaPrivateKey()!;
        var contents = new System.Security.Cryptography.Pkcs.Pkcs12SafeContents();
        contents.AddCertificate(X509CertificateLoader.LoadCertificate(_pki.Leaf.RawData));
        contents.AddShroudedKey(key, "the-key-password", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 2048));
        var builder = new System.Security.Cryptography.Pkcs.Pkcs12Builder();
        builder.AddSafeContentsEncrypted(contents, "the-file-password", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 2048)); // as keytool writes it
        builder.SealWithMac("the-file-password", HashAlgorithmName.SHA256, 2048);
        File.WriteAllBytes(P("two-passwords.p12"), builder.Encode());
        File.WriteAllText(P("pass"), "the-file-password\n");

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("two-passwords.p12"), ClientCertificatePasswordFile = P("pass") })).Failures);

        // Linux's loader drops the key it cannot open (one message); a platform that fails the import throws (the other).
        Assert.Contains("keytool -keypass", message, StringComparison.Ordinal);
        Assert.Contains("openssl pkcs12 -export", message, StringComparison.Ordinal);
        Assert.DoesNotContain("It is a truststore", message, StringComparison.Ordinal);
        Assert.DoesNotContain("the-file-password", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pkcs12_PasswordRightButContentsCannotBeLoaded_ShowsThePlatformsCodeNotAWrongPassword()
    {
        // The MAC checks out, the certificate bag holds no certificate: the same branch a platform that cannot import keys
        // takes (Wine: "Success."); the password is not blamed and the platform's code is shown.
        var contents = new System.Security.Cryptography.Pkcs.Pkcs12SafeContents();
        contents.AddSafeBag(new System.Security.Cryptography.Pkcs.Pkcs12CertBag(new Oid("1.2.840.113549.1.9.22.1"), new byte[] { 0x04, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00 }));
        var builder = new System.Security.Cryptography.Pkcs.Pkcs12Builder();
        builder.AddSafeContentsUnencrypted(contents);
        builder.SealWithMac("right", HashAlgorithmName.SHA256, 2048);
        File.WriteAllBytes(P("damaged.p12"), builder.Encode());
        File.WriteAllText(P("pass"), "right\n");

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("damaged.p12"), ClientCertificatePasswordFile = P("pass") })).Failures);

        Assert.Contains("opens with its password (its MAC checks out), but what it holds cannot be loaded", message, StringComparison.Ordinal);
        Assert.Matches("HRESULT 0x[0-9A-F]{8}", message);
        Assert.DoesNotContain("check the file and its password", message, StringComparison.Ordinal);

        // Without a MAC nothing says the password is right: the file and its password are named.
        var unsealed = new System.Security.Cryptography.Pkcs.Pkcs12Builder();
        unsealed.AddSafeContentsUnencrypted(contents);
        unsealed.SealWithoutIntegrity();
        File.WriteAllBytes(P("damaged-no-mac.p12"), unsealed.Encode());
        var noMac = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificateFile = P("damaged-no-mac.p12"), ClientCertificatePasswordFile = P("pass") })).Failures);
        Assert.Contains("cannot be read (", noMac, StringComparison.Ordinal);
        Assert.Contains("Fix: check the file and its password.", noMac, StringComparison.Ordinal);
    }

    [Fact]
    public void Pkcs12_OverTheLoadersIterationLimit_IsNotBlamedOnThePlatform_AndAnEmptyPasswordFileOpensWithNone()
    {
        var contents = new System.Security.Cryptography.Pkcs.Pkcs12SafeContents();
        contents.AddCertificate(X509CertificateLoader.LoadCertificate(_pki.Root.RawData));
        byte[] Sealed(string password, int iterations)
        {
            var builder = new System.Security.Cryptography.Pkcs.Pkcs12Builder();
            builder.AddSafeContentsUnencrypted(contents);
            builder.SealWithMac(password, HashAlgorithmName.SHA256, iterations);
            return builder.Encode();
        }

        // A MAC the password opens but with more iterations than the loader allows (300 000): the limit is named as it is.
        File.WriteAllBytes(P("slow.p12"), Sealed("right", 400_000));
        File.WriteAllText(P("pass"), "right\n");
        var slow = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = P("slow.p12"), MasterCertificatePasswordFile = P("pass") })).Failures);
        Assert.Contains("cannot be read (", slow, StringComparison.Ordinal);
        Assert.DoesNotContain("opens with its password", slow, StringComparison.Ordinal);

        // A truststore sealed with the empty password is read with no password set (the MAC is checked with "" too).
        File.WriteAllBytes(P("empty.p12"), Sealed(string.Empty, 2048));
        Assert.NotNull(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = P("empty.p12") }));
    }

    [Fact]
    public async Task JavaKeytool_Pkcs12KeystoreAndTruststore_Work_JksIsRecognisedWithTheConversionCommand()
    {
        // keytool ships with the JDK (installed here); CI installs it if missing (.ci/run).
        void Keytool(params string[] args)
        {
            var psi = new System.Diagnostics.ProcessStartInfo("keytool") { WorkingDirectory = _pki.Directory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }

            using var p = ChildProcess.WithInput(System.Diagnostics.Process.Start(psi)!);
            var err = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(60_000));
            Assert.True(p.ExitCode == 0, err.Result);
        }

        File.WriteAllText(P("storepass"), "changeit\n");
        Keytool("-genkeypair", "-storetype", "PKCS12", "-keystore", "java-agent.p12", "-storepass", "changeit", "-alias", "agent", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=java-agent", "-validity", "2");
        File.WriteAllText(P("root.pem"), TestCertificates.Pem(_pki.Root));
        Keytool("-importcert", "-noprompt", "-storetype", "PKCS12", "-keystore", "java-trust.p12", "-storepass", "changeit", "-alias", "root", "-file", "root.pem");
        Keytool("-genkeypair", "-storetype", "JKS", "-keystore", "legacy.jks", "-storepass", "changeit", "-alias", "x", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=legacy", "-validity", "2");

        Assert.Equal("CN=java-agent", await ConnectAsync(new TlsOptions
        {
            ClientCertificateFile = P("java-agent.p12"),
            ClientCertificatePasswordFile = P("storepass"),
            MasterCertificateFile = P("java-trust.p12"),
            MasterCertificatePasswordFile = P("storepass"),
            TrustMode = MasterTrustMode.PinnedOnly,
        }));

        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { MasterCertificateFile = P("legacy.jks") })).Failures);
        Assert.Contains("JKS", message, StringComparison.Ordinal);
        Assert.Contains($"keytool -importkeystore -srckeystore '{P("legacy.jks")}' -destkeystore '{P("legacy.jks")}.p12' -deststoretype PKCS12", message, StringComparison.Ordinal);
    }

    [Fact]
    public void PasswordFileAndVariableTogether_IsAnError()
    {
        var message = Assert.Single(Assert.Throws<DeterminedConfigurationException>(() => TlsPolicy.Create(new TlsOptions { ClientCertificatePasswordFile = "/x", ClientCertificatePasswordVariable = "Y" })).Failures);
        Assert.Contains("both a password file and a password environment variable", message, StringComparison.Ordinal);
    }
}
