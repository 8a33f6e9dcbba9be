using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Determined.Testing;

/// <summary>
/// Two TLS masters on 127.0.0.1 and the files a client brings, made where private keys can be made. Wine's CNG can neither
/// make nor import a private key (<see cref="Wine"/>), so under Wine the Linux side runs this fixture
/// (<c>Determined.TestHost windows-fixture &lt;dir&gt;</c>, started by eng/windows-leg.sh) and the tests read its manifest
/// (<see cref="ManifestVariable"/>); everywhere else the tests start it in-process. Both masters serve a leaf for
/// <see cref="MasterName"/> only (so reaching them by address needs the name override) under root → intermediate; the mutual
/// one requires a client certificate from its own client CA and answers <c>/client-subject</c> with the one it got.
/// </summary>
public sealed class WindowsLegFixture : IAsyncDisposable
{
    public const string ManifestVariable = "DET_TEST_WINDOWS_FIXTURE";
    public const string MasterName = "determined-master-ci";
    public const string ClientSubject = "CN=windows-leg-client";

    private readonly List<TlsTestServer> _servers = [];

    public required string Directory { get; init; }

    public required Uri Master { get; init; }

    public required Uri MutualMaster { get; init; }

    /// <summary>Gets the served leaf's SHA-256 fingerprint (hex, lower case), as trust on first use shows it.</summary>
    public required string LeafFingerprint { get; init; }

    public string RootFile => Path.Combine(Directory, "root.pem");

    public string ClientCertificateFile => Path.Combine(Directory, "client.crt");

    public string ClientKeyFile => Path.Combine(Directory, "client.key");

    public string ClientPkcs12File => Path.Combine(Directory, "client.p12");

    /// <summary>Gets the file holding the PKCS#12 password (a test password, never a real secret).</summary>
    public string ClientPasswordFile => Path.Combine(Directory, "client.password");

    /// <summary>
    /// The fixture the Linux side made when <see cref="ManifestVariable"/> is set (under Wine), otherwise a new one in
    /// <paramref name="directory"/>.
    /// </summary>
    public static async Task<WindowsLegFixture> OpenAsync(string directory)
    {
        var manifest = Environment.GetEnvironmentVariable(ManifestVariable);
        if (string.IsNullOrEmpty(manifest))
        {
            return await StartAsync(directory);
        }

        var read = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifest))!;
        return new WindowsLegFixture
        {
            Directory = Path.GetDirectoryName(Path.GetFullPath(manifest))!,
            Master = new Uri(read["master"]),
            MutualMaster = new Uri(read["mutual_master"]),
            LeafFingerprint = read["leaf_fingerprint"],
        };
    }

    /// <summary>Makes the PKI and the files in <paramref name="directory"/>, starts both masters and writes the manifest.</summary>
    public static async Task<WindowsLegFixture> StartAsync(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        var root = TestCertificates.CreateRoot("Windows Leg Root CA");
        var intermediate = TestCertificates.CreateIntermediate(root, "Windows Leg Intermediate CA");
        var leaf = TestCertificates.CreateLeaf(intermediate, new TestCertificates.LeafSpec { Dns = [MasterName], Ips = [], CommonName = MasterName });
        var clientCa = TestCertificates.CreateRoot("Windows Leg Client CA");
        var client = TestCertificates.CreateLeaf(clientCa, new TestCertificates.LeafSpec { Dns = [], Ips = [], CommonName = "windows-leg-client", Usages = [TestCertificates.ClientAuth] });

        var master = await TlsTestServer.StartAsync(leaf, intermediate);
        var mutual = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = leaf,
            Chain = [intermediate],
            ClientCertificates = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (_, certificate, _, _) => certificate is X509Certificate2 presented && presented.Issuer == clientCa.Subject,
            Map = app => app.MapGet("/client-subject", (HttpContext c) => c.Connection.ClientCertificate?.Subject ?? "<none>"),
        });
        var fixture = new WindowsLegFixture
        {
            Directory = directory,
            Master = master.Uri,
            MutualMaster = mutual.Uri,
            LeafFingerprint = Convert.ToHexStringLower(SHA256.HashData(leaf.RawData)),
        };
        fixture._servers.AddRange([master, mutual]);
        const string password = "windows-leg-test-password";
        File.WriteAllText(fixture.RootFile, TestCertificates.Pem(root));
        File.WriteAllText(fixture.ClientCertificateFile, TestCertificates.Pem(client));
        File.WriteAllText(fixture.ClientKeyFile, TestCertificates.KeyPem(client));
        File.WriteAllBytes(fixture.ClientPkcs12File, client.Export(X509ContentType.Pkcs12, password));
        File.WriteAllText(fixture.ClientPasswordFile, password + "\n");
        File.WriteAllText(Path.Combine(directory, "fixture.json"), JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["master"] = fixture.Master.ToString(),
            ["mutual_master"] = fixture.MutualMaster.ToString(),
            ["leaf_fingerprint"] = fixture.LeafFingerprint,
        }));
        return fixture;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }
}
