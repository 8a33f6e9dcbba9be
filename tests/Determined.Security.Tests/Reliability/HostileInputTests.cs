using System.Text;
using Determined.Testing;
using Microsoft.Extensions.Options;

namespace Determined.Security.Tests.Reliability;

/// <summary>
/// Generated-corpus fuzzing with a fixed seed and bounded iterations: every parser a user or peer can reach either
/// succeeds or throws its documented exception type with a message; never anything else, never a hang.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private const int Iterations = 3000;
    private readonly string _dir = Directory.CreateTempSubdirectory("det-fuzz-").FullName;
    private readonly ITestOutputHelper _output;

    public HostileInputTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Run<TAllowed>(string name, IEnumerable<string> inputs, Action<string> parse)
        where TAllowed : Exception
    {
        var ok = 0;
        var rejected = 0;
        foreach (var input in inputs)
        {
            try
            {
                parse(input);
                ok++;
            }
            catch (TAllowed ex)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message), $"{name}: empty message for input {Escape(input)}");
                rejected++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"{name}: input {Escape(input)} threw {ex.GetType().Name}: {ex.Message}");
            }
        }

        _output.WriteLine($"{name}: {ok + rejected} inputs tried, {ok} accepted, {rejected} rejected with {typeof(TAllowed).Name}");
        Assert.True(ok + rejected > 500, $"{name}: only {ok + rejected} inputs");
    }

    private static string Escape(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    [Fact]
    public void MasterAddress_AnyInput_ParsesOrThrowsFormatException() =>
        Run<FormatException>("master URL", HostileInputCorpus.Generate(1, ["http://", "https://", "host", "[::1]", ":8080", ":99999", "@", "user:pw@", "/path/", "?q", "#f", "10.0.0.1", "[", "]"]), s => MasterAddress.Parse(s));

    [Fact]
    public void CertificatePin_AnyInput_ParsesOrThrowsFormatException()
    {
        var fp = CertificatePin.Sha256Fingerprint(TestCertificates.CreateLeaf(null));
        Run<FormatException>("fingerprint", HostileInputCorpus.Generate(2, [fp, fp.ToUpperInvariant(), fp.Replace(":", "", StringComparison.Ordinal), "sha256:", "sha256/", "pin-sha256=\"", "AAAA", "==", ":"]), s => CertificatePin.Parse(s));
    }

    [Fact]
    public void InlinePem_AnyInput_LoadsOrThrowsDeterminedConfigurationException()
    {
        var pem = TestCertificates.Pem(TestCertificates.CreateRoot());
        var lines = pem.Split('\n');
        Run<DeterminedConfigurationException>("PEM trust material", HostileInputCorpus.Generate(3, [pem, lines[0] + "\n", lines[1] + "\n", "-----END CERTIFICATE-----\n", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"], 600), s => TlsPolicy.Create(new TlsOptions { MasterCertificatePem = s }));
    }

    [Fact]
    public void CertificateFiles_AnyBytes_LoadOrThrowDeterminedConfigurationException()
    {
        var random = new Random(4);
        var der = TestCertificates.CreateRoot().RawData;
        var inputs = Enumerable.Range(0, 400).Select(i =>
        {
            var bytes = i % 3 == 0 ? der.ToArray() : new byte[random.Next(0, 400)];
            if (i % 3 != 0)
            {
                random.NextBytes(bytes);
                if (bytes.Length > 0 && i % 2 == 0)
                {
                    bytes[0] = 0x30; // looks like DER / PKCS#12
                }
            }
            else
            {
                bytes[random.Next(bytes.Length)] ^= (byte)random.Next(1, 255);
            }

            var path = Path.Combine(_dir, $"f{i}.bin");
            File.WriteAllBytes(path, bytes);
            return path;
        }).Append("");
        Run<DeterminedConfigurationException>("certificate/PKCS#12 files", inputs.Take(Iterations + 1).Concat(Enumerable.Repeat(Path.Combine(_dir, "f1.bin"), Iterations - 400)), p =>
        {
            TlsPolicy.Create(new TlsOptions { MasterCertificateFile = p.Length == 0 ? Path.Combine(_dir, "none") : p });
            TlsPolicy.Create(new TlsOptions { ClientCertificateFile = p.Length == 0 ? Path.Combine(_dir, "none") : p, ClientCertificatePasswordFile = null });
        });
    }

    [Fact]
    public void CertsJson_AnyContents_IsReadOrQuarantined_NeverThrows()
    {
        var store = new MasterCertificateStore(_dir);
        var pem = TestCertificates.Pem(TestCertificates.CreateRoot());
        var inputs = HostileInputCorpus.Generate(5, ["{", "}", "\"https://m:8443\"", ":", "\"" + pem.Replace("\n", "\\n", StringComparison.Ordinal) + "\"", "[", "]", "null", "42", ",", "\\u0000"], 1500).ToList();
        Run<DeterminedException>("certs.json", inputs.Concat(inputs), text =>
        {
            File.WriteAllText(store.FilePath, text);
            _ = store.List();
            _ = store.Get("https://m:8443");
        });
    }
}
