using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace Determined.Testing;

/// <summary>
/// A real <c>openssl s_server -www</c> on 127.0.0.1 (OS-chosen port) at security level 0, for certificates that
/// OpenSSL-backed .NET servers refuse to serve (RSA-1024, SHA-1 signatures), and for chains .NET would not send as given
/// (unrelated extra certificates): the chain is sent exactly as passed.
/// </summary>
public sealed partial class OpenSslServer : IDisposable
{
    private readonly Process _process;
    private readonly string? _directory;

    private OpenSslServer(Process process, string? directory, int port)
    {
        _process = process;
        _directory = directory;
        Uri = new Uri($"https://127.0.0.1:{port}");
    }

    public Uri Uri { get; }

    public static async Task<OpenSslServer> StartAsync(X509Certificate2 leaf, params X509Certificate2[] chain)
    {
        var directory = Directory.CreateTempSubdirectory("det-openssl-").FullName;
        var certFile = Path.Combine(directory, "cert.pem");
        var keyFile = Path.Combine(directory, "key.pem");
        await File.WriteAllTextAsync(certFile, TestCertificates.Pem(leaf));
        var chainFile = Path.Combine(directory, "chain.pem");
        await File.WriteAllTextAsync(chainFile, TestCertificates.Pem(chain));
        await File.WriteAllTextAsync(keyFile, TestCertificates.KeyPem(leaf));
        return await StartAsync(directory, certFile, keyFile, chain.Length > 0 ? chainFile : null, ownsDirectory: true);
    }

    /// <summary>Serves files as a master would (the leaf, its key, the rest of the chain in file order), e.g. a tool's own output.</summary>
    public static Task<OpenSslServer> StartFromFilesAsync(string leafFile, string keyFile, string? chainFile) =>
        StartAsync(Path.GetDirectoryName(leafFile)!, leafFile, keyFile, chainFile, ownsDirectory: false);

    private static async Task<OpenSslServer> StartAsync(string directory, string certFile, string keyFile, string? chainFile, bool ownsDirectory)
    {
        var psi = new ProcessStartInfo("openssl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        string[] arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", certFile, "-key", keyFile, "-cipher", "DEFAULT@SECLEVEL=0", "-www", .. chainFile is not null ? new[] { "-cert_chain", chainFile } : []];
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("openssl did not start");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (await process.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            var match = AcceptLine().Match(line);
            if (match.Success)
            {
                return new OpenSslServer(process, ownsDirectory ? directory : null, int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        var error = await process.StandardError.ReadToEndAsync(cts.Token);
        throw new InvalidOperationException("openssl s_server did not report its port: " + error);
    }

    public void Dispose()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        if (_directory is not null)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [GeneratedRegex(@"ACCEPT .*:(\d+)$")]
    private static partial Regex AcceptLine();
}
