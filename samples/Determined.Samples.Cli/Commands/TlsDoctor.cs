using System.Text.Json;
using System.Text.Json.Nodes;
using Determined.Security;

namespace Determined.Samples.Cli.Commands;

/// <summary>det tls doctor: connect, show the chain, protocol and cipher, the trust that applies, and the verdict with its fix.</summary>
public static class TlsDoctor
{
    public static async Task<int> RunAsync(CliContext cli, bool json, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        var uri = cli.MasterUri;
        var policy = cli.Tofu.ApplyStoredTrust(uri, cli.Settings.Tls);
        var resolver = new CertificateTrustResolver(policy);
        var decision = resolver.Resolve(uri);
        var trustSource = TrustSourceText(cli, policy, decision);
        var probe = await MasterProbe.ProbeAsync(uri, decision.ExpectedName == uri.IdnHost ? null : decision.ExpectedName, cancellationToken);

        string verdict;
        var stalled = false;
        MasterConnectionException? failure = null;
        try
        {
            using var http = new HttpClient(new MasterHttpHandlerFactory(resolver).CreateHandler(uri)) { BaseAddress = uri, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
            using var response = await http.GetAsync(new Uri(uri, "info"), cancellationToken);
            verdict = response.IsSuccessStatusCode ? "OK" : $"HTTP {(int)response.StatusCode} from /info";
        }
        catch (MasterConnectionException ex)
        {
            failure = ex;
            verdict = "FAIL";
        }
        catch (HttpRequestException ex)
        {
            verdict = "FAIL";
            failure = new MasterConnectionException(MasterConnectionError.HandshakeFailed, uri.IdnHost, ex.Message, "check that the master runs at " + uri, null, ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // HttpClient.Timeout: the connection was made (the probe completed a handshake) but /info never answered.
            verdict = "FAIL";
            stalled = true;
            failure = new MasterConnectionException(
                probe.SpeaksTls ? MasterConnectionError.HandshakeFailed : MasterConnectionError.ConnectTimeout,
                uri.IdnHost,
                $"{(probe.SpeaksTls ? "the master completed the TLS handshake but" : "the master")} did not answer GET /info within {(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds:0} s (it stalls). Fix: check the master's logs and load; a proxy or load balancer may hold the request",
                "check the master's logs and load; a proxy or load balancer may hold the request",
                null,
                ex);
        }

        if (json)
        {
            var result = new JsonObject
            {
                ["master"] = MasterAddress.Canonicalize(uri),
                ["trustSource"] = decision.Anchors.ToString(),
                ["trustReason"] = trustSource,
                ["expectedName"] = decision.ExpectedName,
                ["speaksTls"] = probe?.SpeaksTls ?? false,
                ["speaksPlainHttp"] = probe?.SpeaksPlainHttp ?? false,
                ["protocol"] = probe?.Protocol?.ToString(),
                ["cipherSuite"] = probe?.CipherSuite?.ToString(),
                ["chain"] = new JsonArray([.. (probe?.PresentedChain ?? []).Select(c => (JsonNode)Summary(CertificateSummary.Create(c)))]),
                ["verdict"] = verdict,
                ["stage"] = failure is null ? null : Stage(failure, stalled),
                ["nameVerified"] = !policy.DangerousSkipVerification,
                ["error"] = failure?.Error.ToString(),
                ["message"] = failure?.Message,
                ["fix"] = failure?.SuggestedFix,
            };
            await cli.Output.WriteLineAsync(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return failure is null && verdict == "OK" ? 0 : 1;
        }

        var o = cli.Output;
        await o.WriteLineAsync($"Master:         {MasterAddress.Canonicalize(uri)}");
        await o.WriteLineAsync($"Trust:          {decision.Anchors}: {trustSource}");
        await o.WriteLineAsync(policy.DangerousSkipVerification
            ? $"Name verified:  NOTHING IS VERIFIED (DangerousSkipVerification / noverify); the name sent is {decision.ExpectedName}"
            : $"Name verified:  {decision.ExpectedName}{(decision.ExpectedName != uri.IdnHost ? " (name override; sent as SNI and Host)" : string.Empty)}");
        if (probe is { SpeaksTls: true })
        {
            // The platform may report no suite (TLS_NULL_WITH_NULL_NULL, e.g. on Windows): never print that as the suite.
            var suite = probe.CipherSuite?.ToString() ?? "cipher suite not reported by the platform";
            await o.WriteLineAsync($"Connection:     {probe.Protocol}, {suite}");
            await o.WriteLineAsync("Chain presented:");
            for (var i = 0; i < probe.PresentedChain.Count; i++)
            {
                var s = CertificateSummary.Create(probe.PresentedChain[i]);
                await o.WriteLineAsync($"  [{i}] {SafeText.Terminal(s.Subject)}");
                await o.WriteLineAsync($"      issuer:  {SafeText.Terminal(s.Issuer)}");
                await o.WriteLineAsync($"      names:   {(s.Names.Any() ? SafeText.Terminal(string.Join(", ", s.Names)) : "(none)")}");
                await o.WriteLineAsync($"      valid:   {s.NotBefore:u} to {s.NotAfter:u}");
                await o.WriteLineAsync($"      SHA-256: {s.Sha256Fingerprint}");
                await o.WriteLineAsync($"      SPKI:    {s.SpkiPin}");
            }

            var soonest = probe.PresentedChain.Select(CertificateSummary.Create).MinBy(c => c.NotAfter)!;
            var left = soonest.NotAfter - DateTimeOffset.UtcNow;
            await o.WriteLineAsync(left < TimeSpan.Zero
                ? $"Expires:        EXPIRED {-left.TotalDays:0} days ago ({SafeText.Terminal(soonest.Subject)})"
                : $"Expires:        in {left.TotalDays:0} days, {soonest.NotAfter:u} ({SafeText.Terminal(soonest.Subject)}){(left <= policy.CertificateExpiryWarning ? " - renew it soon" : string.Empty)}");
        }
        else if (probe is not null)
        {
            await o.WriteLineAsync($"Connection:     no TLS handshake ({probe.Failure?.Error.ToString() ?? "no failure recorded"}){(probe.SpeaksPlainHttp ? "; the port answers plain HTTP" : string.Empty)}");
        }

        var colour = !Console.IsOutputRedirected;
        var mark = failure is null && verdict == "OK" ? (colour ? "\u001b[32mOK\u001b[0m" : "OK") : (colour ? "\u001b[31mFAIL\u001b[0m" : "FAIL");
        await o.WriteLineAsync($"Verdict:        {mark}{(failure is null ? string.Empty : $" ({Class(failure, stalled)})")}");
        if (failure is not null)
        {
            await o.WriteLineAsync($"Stage:          {Stage(failure, stalled)}");
            // The message ends with the fix; print it once, on its own line.
            var reason = failure.Message;
            var fixAt = reason.LastIndexOf(" Fix: ", StringComparison.Ordinal);
            await o.WriteLineAsync($"Reason:         {SafeText.Terminal(fixAt > 0 ? reason[..fixAt] : reason)}");
            await o.WriteLineAsync($"Fix:            {SafeText.Terminal(failure.SuggestedFix)}");
        }
        else if (verdict == "OK" && probe is { PresentedChain.Count: > 0 })
        {
            await o.WriteLineAsync($"Accepted by:    {SafeText.Terminal(AcceptedBy(uri, policy, decision, probe, ReferenceEquals(policy, cli.Settings.Tls) ? policy.PinnedCertificateSource ?? "nothing" : cli.Certificates.FilePath))}");
        }

        return failure is null && verdict == "OK" ? 0 : 1;
    }

    /// <summary>
    /// Which anchor accepted the chain: the pinned certificates, or a root of the system store (which SSL_CERT_FILE and
    /// SSL_CERT_DIR redefine on Linux), so a pin that is silently unused is visible.
    /// </summary>
    private static string AcceptedBy(Uri uri, TlsPolicy policy, TrustDecision decision, MasterProbeResult probe, string pinnedFrom)
    {
        var systemStore = "a root in the system trust store" + SystemStoreOverride();
        if (decision.Anchors == TrustAnchors.SystemRoots)
        {
            return systemStore;
        }

        if (decision.Anchors is not TrustAnchors.SystemRootsAndPinned)
        {
            return decision.Reason;
        }

        // The same chain judged with the pinned certificates alone.
        var pinnedOnly = new TlsOptions
        {
            MasterCertificatePem = string.Concat(policy.PinnedCertificates.Select(c => c.ExportCertificatePem() + "\n")),
            TrustMode = MasterTrustMode.PinnedOnly,
            MasterCertificateName = policy.MasterCertificateName,
        };
        try
        {
            new CertificateTrustResolver(TlsPolicy.Create(pinnedOnly)).ValidateCertificate(uri, probe.PresentedChain[0], [.. probe.PresentedChain.Skip(1)]);
            return "the pinned certificate(s) from " + pinnedFrom;
        }
        catch (MasterConnectionException)
        {
            return systemStore + ", not the pinned certificate(s): the pin is not used for this master";
        }
    }

    private static string SystemStoreOverride()
    {
        var file = Environment.GetEnvironmentVariable("SSL_CERT_FILE");
        var dir = Environment.GetEnvironmentVariable("SSL_CERT_DIR");
        return file is null && dir is null
            ? string.Empty
            : $" (redefined by {(file is null ? string.Empty : $"SSL_CERT_FILE={file}")}{(file is not null && dir is not null ? ", " : string.Empty)}{(dir is null ? string.Empty : $"SSL_CERT_DIR={dir}")})";
    }

    private static bool Unreachable(MasterConnectionError error) => error is MasterConnectionError.ConnectionRefused or MasterConnectionError.ConnectionClosed
        or MasterConnectionError.ConnectTimeout or MasterConnectionError.NameNotResolved or MasterConnectionError.NetworkUnreachable or MasterConnectionError.ProxyFailed;

    /// <summary>The verdict's class: <c>Unreachable: ConnectionRefused</c>, <c>Stalled</c>, or the certificate or TLS error.</summary>
    private static string Class(MasterConnectionException failure, bool stalled) =>
        stalled ? "Stalled" : Unreachable(failure.Error) ? $"Unreachable: {failure.Error}" : failure.Error.ToString();

    /// <summary>Where the connection stopped: name resolution, TCP (or the proxy), TLS, or HTTP.</summary>
    private static string Stage(MasterConnectionException failure, bool stalled) => stalled ? "HTTP (the request was sent; no answer)" : failure.Error switch
    {
        MasterConnectionError.NameNotResolved => "name resolution",
        MasterConnectionError.ConnectionRefused or MasterConnectionError.ConnectTimeout or MasterConnectionError.NetworkUnreachable => "TCP connect",
        MasterConnectionError.ConnectionClosed => "TCP (closed before TLS or an answer)",
        MasterConnectionError.ProxyFailed => "the proxy",
        MasterConnectionError.PlaintextServer or MasterConnectionError.TlsServerOnPlaintextUrl or MasterConnectionError.EncryptionRequired or MasterConnectionError.HandshakeFailed => "TLS handshake",
        _ => "TLS (the master's certificate)",
    };

    private static string TrustSourceText(CliContext cli, TlsPolicy policy, TrustDecision decision)
    {
        var origin = cli.Settings.Provenance.FirstOrDefault(s => s.Name.StartsWith("Tls.", StringComparison.Ordinal));
        var fromStore = !ReferenceEquals(policy, cli.Settings.Tls);
        return decision.Reason + (fromStore ? $" (trusted on first use, {cli.Certificates.FilePath})" : origin is null ? string.Empty : $" ({origin.Origin}: {origin.Location})");
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
