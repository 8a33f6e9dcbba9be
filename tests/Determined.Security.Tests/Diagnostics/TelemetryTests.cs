using Determined.Testing;
using Microsoft.Extensions.Logging;

namespace Determined.Security.Tests.Diagnostics;

/// <summary>
/// The Determined.Security meter is process-wide, so these tests run alone (after the parallel ones) and count exactly.
/// </summary>
[CollectionDefinition(nameof(TelemetryTests), DisableParallelization = true)]
public sealed class TelemetryTestGroup;

[Collection(nameof(TelemetryTests))]
public sealed class TelemetryTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Handshakes_AreCountedByResult_FailuresByClass_AndRejectionsLoggedWithStableIds()
    {
        await using var server = await TlsTestServer.StartAsync(_pki.Leaf, _pki.Intermediate);
        using var metrics = new MeterCapture("Determined.Security");
        using var logs = new FakeLoggerFactory();

        await Clients.GetInfoAsync(new TlsOptions { MasterCertificateFile = _pki.RootFile }, server.Uri, logs);
        await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions { MasterCertificateName = "wrong.example", MasterCertificateFile = _pki.RootFile }, server.Uri, logs));

        Assert.Equal(1, metrics.Sum("determined.security.handshakes", "result", "accepted"));
        Assert.Equal(1, metrics.Sum("determined.security.handshakes", "result", "rejected"));
        Assert.Equal(1, metrics.Sum("determined.security.handshake_failures", "error.type", "NameMismatch"));
        Assert.Equal(2, metrics.Sum("determined.security.trust_decisions", "trust.anchors", "SystemRootsAndPinned"));
        var rejected = Assert.Single(logs.Records, r => r.Id.Id == 1003);
        Assert.DoesNotContain(logs.Records, r => r.Id.Id == 1005); // logged once, where it was decided
        Assert.Equal(LogLevel.Warning, rejected.Level);
        Assert.Equal("CertificateRejected", rejected.Id.Name);
        Assert.Contains(logs.Records, r => r.Id.Id == 1001 && r.Level == LogLevel.Debug);
    }

    [Fact]
    public void ExpiringChain_IsWarnedOncePerCertificate_AndTimeLeftIsAGauge()
    {
        using var metrics = new MeterCapture("Determined.Security");
        using var logs = new FakeLoggerFactory();
        var uri = new Uri("https://localhost:8443");
        var leaf = _pki.Leaf;
        var expiry = new DateTimeOffset(leaf.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(expiry.AddDays(-5));
        var resolver = new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile }), logs.CreateLogger<CertificateTrustResolver>(), clock);

        resolver.ValidateCertificate(uri, leaf, [_pki.Intermediate]);
        resolver.ValidateCertificate(uri, leaf, [_pki.Intermediate]);

        var warning = Assert.Single(logs.Records, r => r.Id.Id == 1006);
        Assert.Equal("CertificateExpiresSoon", warning.Id.Name);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains(CertificatePin.Sha256Fingerprint(leaf), warning.Message, StringComparison.Ordinal);
        Assert.Contains("in 5 days", warning.Message, StringComparison.Ordinal);
        var gauge = metrics.Measurements.Where(m => m.Instrument == "determined.security.master_certificate.expires_in" && Equals(m.Tags.GetValueOrDefault("server.address"), "localhost")).ToList();
        Assert.Equal(2, gauge.Count);
        Assert.All(gauge, m => Assert.InRange(m.Value, TimeSpan.FromDays(5).TotalSeconds - 1, TimeSpan.FromDays(5).TotalSeconds + 1));

        // Far from expiry, or with the warning off: no warning.
        using var quiet = new FakeLoggerFactory();
        new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile }), quiet.CreateLogger<CertificateTrustResolver>(), new Microsoft.Extensions.Time.Testing.FakeTimeProvider(expiry.AddDays(-20))).ValidateCertificate(uri, leaf, [_pki.Intermediate]);
        new CertificateTrustResolver(TlsPolicy.Create(new TlsOptions { MasterCertificateFile = _pki.RootFile, CertificateExpiryWarning = TimeSpan.Zero }), quiet.CreateLogger<CertificateTrustResolver>(), clock).ValidateCertificate(uri, leaf, [_pki.Intermediate]);
        Assert.DoesNotContain(quiet.Records, r => r.Id.Id == 1006);
    }

    [Fact]
    public async Task PlaintextFailure_IsCountedAndLogged()
    {
        await using var server = await TlsTestServer.StartAsync(certificate: null);
        using var metrics = new MeterCapture("Determined.Security");
        using var logs = new FakeLoggerFactory();

        await Assert.ThrowsAsync<MasterConnectionException>(() => Clients.GetInfoAsync(new TlsOptions(), new Uri($"https://127.0.0.1:{server.Port}"), logs));

        Assert.Equal(1, metrics.Sum("determined.security.handshake_failures", "error.type", "PlaintextServer"));
        Assert.Contains(logs.Records, r => r.Id.Id == 1005 && r.Id.Name == "ConnectionFailed");
    }
}
