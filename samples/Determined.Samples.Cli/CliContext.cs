using Determined.Sdk;
using Determined.Security;
using Microsoft.Extensions.Options;

namespace Determined.Samples.Cli;

/// <summary>What every command needs: the master URL, the environment's settings, stores, trust on first use, and console I/O.</summary>
public sealed class CliContext
{
    public CliContext(string? master, string? trustFingerprint, TextWriter output, TextWriter error, TextReader input, bool interactive)
    {
        Output = output;
        Error = error;
        Input = input;
        Interactive = interactive;
        MasterFlag = master;
        Options = new DeterminedClientOptions { MasterUrl = master, UseCertificateStore = false };
        // The environment exactly as the Python CLI reads it (DET_MASTER, DET_MASTER_CERT_FILE, DET_MASTER_CERT_NAME, ...).
        Settings = DeterminedConnectionSettings.Resolve(Options);
        ConfigDirectory = DeterminedConfigDirectory.GetPath();
        Certificates = new MasterCertificateStore(ConfigDirectory);
        Tokens = new DeterminedTokenStore(ConfigDirectory);
        Tofu = new TrustOnFirstUse(Certificates)
        {
            ExpectedPin = trustFingerprint is null ? TrustOnFirstUse.ExpectedPinFromEnvironment() : CertificatePin.Parse(trustFingerprint),
            Prompt = AskAsync,
        };
    }

    /// <summary>The -m/--master value, when given.</summary>
    public string? MasterFlag { get; }

    public TextWriter Output { get; }

    public TextWriter Error { get; }

    public TextReader Input { get; }

    public bool Interactive { get; }

    public DeterminedClientOptions Options { get; }

    public DeterminedConnectionSettings Settings { get; }

    public string ConfigDirectory { get; }

    public MasterCertificateStore Certificates { get; }

    public DeterminedTokenStore Tokens { get; }

    public TrustOnFirstUse Tofu { get; }

    public Uri MasterUri => Settings.MasterUri;

    public string MasterUrl => MasterAddress.Canonicalize(MasterUri);

    /// <summary>Runs a call with trust on first use: the stored chain, the prompt (or expected fingerprint), one retry.</summary>
    public Task<T> WithClientAsync<T>(Func<DeterminedClient, CancellationToken, Task<T>> call, CancellationToken cancellationToken, DeterminedConnectionSettings? settings = null) =>
        Tofu.ExecuteAsync(MasterUri, Settings.Tls, async (policy, ct) =>
        {
            using var http = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(policy)).CreateHandler(MasterUri)) { BaseAddress = MasterUri };
            using var client = new DeterminedClient(http, settings ?? Settings);
            return await call(client, ct);
        }, cancellationToken);

    /// <summary>Determined's prompt; with no answer (no stdin) it fails instead of hanging.</summary>
    private async ValueTask<bool> AskAsync(CertificateTrustRequest request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            await Output.WriteAsync(request.PromptText);
            await Output.FlushAsync(cancellationToken);
            var answer = await Input.ReadLineAsync(cancellationToken);
            if (answer is null)
            {
                await Output.WriteLineAsync();
                var command = $"det -m {MasterUrl} tls trust --fingerprint {request.Sha256Fingerprint}";
                throw new MasterConnectionException(
                    MasterConnectionError.NotTrusted,
                    MasterUri.IdnHost,
                    $"The master's certificate is not trusted and there is no terminal to ask (SHA-256 {request.Sha256Fingerprint}). Fix: check the fingerprint out of band, then run: {command} (or set {TrustOnFirstUse.ExpectedFingerprintVariable}={request.Sha256Fingerprint}).",
                    command);
            }

            switch (answer.Trim().ToLowerInvariant())
            {
                case "y" or "yes":
                    return true;
                case "n" or "no":
                    return false;
            }
        }

        return false;
    }

    public static int Fail(TextWriter error, Exception ex, bool masterFromFlag = false)
    {
        error.WriteLine(ex switch
        {
            DeterminedConfigurationException o => "error: " + string.Join("\nerror: ", o.Failures.Select(SafeText.Terminal)),
            OperationCanceledException => "error: cancelled before the master answered",
            // The SDK names the option the URL came from; for this program that option is the -m flag.
            MasterConnectionException m when masterFromFlag => "error: " + SafeText.Terminal(SafeText.Redact(m.Message.Replace("comes from DeterminedClientOptions.MasterUrl", "comes from the -m/--master flag", StringComparison.Ordinal))),
            _ => "error: " + SafeText.Terminal(SafeText.Redact(ex.Message)),
        });
        return ex is OperationCanceledException ? 130 : 1;
    }
}
