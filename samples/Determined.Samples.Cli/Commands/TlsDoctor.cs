using System.Text.Json;
using System.Text.Json.Nodes;
using Determined.Security;

namespace Determined.Samples.Cli.Commands;

/// <summary>det tls doctor: connect, show the chain, protocol and cipher, the trust that applies, and the verdict with its fix.</summary>
public static class TlsDoctor
{
    public static async Task<int> RunAsync(CliContext cli, bool json, CancellationToken cancellationToken)
    {
        var uri = cli.MasterUri;
        var tls = cli.Tofu.ApplyStoredTrust(uri, cli.Settings.Tls);
        var policy = TlsPolicy.Create(tls);
        var resolver = new CertificateTrustResolver(policy);
        var decision = resolver.Resolve(uri);
        var trustSource = TrustSourceText(cli, tls, decision);
        var probe = await MasterProbe.ProbeAsync(uri, decision.ExpectedName == uri.IdnHost ? null : decision.ExpectedName, cancellationToken);

        string verdict;
        MasterCertificateException? failure = null;
        try
        {
            using var http = new HttpClient(new MasterHttpHandlerFactory(resolver).CreateHandler(uri)) { BaseAddress = uri, Timeout = TimeSpan.FromSeconds(30) };
            using var response = await http.GetAsync(new Uri(uri, "info"), cancellationToken);
            verdict = response.IsSuccessStatusCode ? "OK" : $"HTTP {(int)response.StatusCode} from /info";
        }
        catch (MasterCertificateException ex)
        {
            failure = ex;
            verdict = "FAIL";
        }
        catch (HttpRequestException ex)
        {
            verdict = "FAIL";
            failure = new MasterCertificateException(MasterCertificateError.HandshakeFailed, uri.IdnHost, ex.Message, "check that the master runs at " + uri, null, ex);
        }

        if (json)
        {
            var result = new JsonObject
            {
                ["master"] = MasterAddress.Canonicalize(uri),
                ["trustSource"] = decision.Source.ToString(),
                ["trustReason"] = trustSource,
                ["expectedName"] = decision.ExpectedName,
                ["speaksTls"] = probe?.SpeaksTls ?? false,
                ["speaksPlainHttp"] = probe?.SpeaksPlainHttp ?? false,
                ["protocol"] = probe?.Protocol?.ToString(),
                ["cipherSuite"] = probe?.CipherSuite?.ToString(),
                ["chain"] = new JsonArray([.. (probe?.PresentedChain ?? []).Select(c => (JsonNode)Summary(CertificateSummary.Create(c)))]),
                ["verdict"] = verdict,
                ["error"] = failure?.Error.ToString(),
                ["message"] = failure?.Message,
                ["fix"] = failure?.SuggestedFix,
            };
            await cli.Output.WriteLineAsync(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return failure is null && verdict == "OK" ? 0 : 1;
        }

        var o = cli.Output;
        await o.WriteLineAsync($"Master:         {MasterAddress.Canonicalize(uri)}");
        await o.WriteLineAsync($"Trust:          {decision.Source}: {trustSource}");
        await o.WriteLineAsync($"Name verified:  {decision.ExpectedName}{(decision.ExpectedName != uri.IdnHost ? " (name override; sent as SNI and Host)" : string.Empty)}");
        if (probe is { SpeaksTls: true })
        {
            await o.WriteLineAsync($"Connection:     {probe.Protocol}, {probe.CipherSuite}");
            await o.WriteLineAsync("Chain presented:");
            for (var i = 0; i < probe.PresentedChain.Count; i++)
            {
                var s = CertificateSummary.Create(probe.PresentedChain[i]);
                await o.WriteLineAsync($"  [{i}] {s.Subject}");
                await o.WriteLineAsync($"      issuer:  {s.Issuer}");
                await o.WriteLineAsync($"      names:   {(s.Names.Any() ? string.Join(", ", s.Names) : "(none)")}");
                await o.WriteLineAsync($"      valid:   {s.NotBefore:u} to {s.NotAfter:u}");
                await o.WriteLineAsync($"      SHA-256: {s.Sha256Fingerprint}");
                await o.WriteLineAsync($"      SPKI:    {s.SpkiPin}");
            }
        }
        else if (probe is not null)
        {
            await o.WriteLineAsync($"Connection:     no TLS handshake ({probe.Error}){(probe.SpeaksPlainHttp ? "; the port answers plain HTTP" : string.Empty)}");
        }

        var colour = !Console.IsOutputRedirected;
        var mark = failure is null && verdict == "OK" ? (colour ? "\u001b[32mOK\u001b[0m" : "OK") : (colour ? "\u001b[31mFAIL\u001b[0m" : "FAIL");
        await o.WriteLineAsync($"Verdict:        {mark}{(failure is null ? string.Empty : $" ({failure.Error})")}");
        if (failure is not null)
        {
            await o.WriteLineAsync($"Reason:         {failure.Message}");
            await o.WriteLineAsync($"Fix:            {failure.SuggestedFix}");
        }

        return failure is null && verdict == "OK" ? 0 : 1;
    }

    private static string TrustSourceText(CliContext cli, TlsOptions tls, TrustDecision decision)
    {
        var origin = cli.Settings.Sources.FirstOrDefault(s => s.Name.StartsWith("Tls.", StringComparison.Ordinal));
        var fromStore = tls.MasterCertificatePem is not null && cli.Settings.Tls.MasterCertificatePem is null;
        return decision.Reason + (fromStore ? $" (trusted on first use, {cli.Certificates.FilePath})" : origin is null ? string.Empty : $" ({origin.Origin}: {origin.Source})");
    }

    private static JsonObject Summary(CertificateSummary s) => new()
    {
        ["subject"] = s.Subject,
        ["issuer"] = s.Issuer,
        ["names"] = new JsonArray([.. s.Names.Select(n => (JsonNode)n)]),
        ["notBefore"] = s.NotBefore,
        ["notAfter"] = s.NotAfter,
        ["sha256"] = s.Sha256Fingerprint,
        ["spki"] = s.SpkiPin,
    };
}
