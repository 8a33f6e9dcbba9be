namespace Determined.Security.Tests.Verification;

/// <summary>The profile's key-strength rule on both sides of each boundary, with the exact reason a refusal gives.</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class KeyStrengthRuleTests
{
    [Theory]
    [InlineData(KeyAlgorithms.Rsa, 2048, null, null)]
    [InlineData(KeyAlgorithms.Rsa, 2047, null, "RSA 2047 bits; at least 2048 are required")]
    [InlineData(KeyAlgorithms.RsaPss, 4096, null, null)]
    [InlineData(KeyAlgorithms.RsaPss, 1024, null, "RSA 1024 bits; at least 2048 are required")]
    [InlineData(KeyAlgorithms.Ec, 0, KeyAlgorithms.P256, null)]
    [InlineData(KeyAlgorithms.Ec, 0, KeyAlgorithms.P384, null)]
    [InlineData(KeyAlgorithms.Ec, 0, KeyAlgorithms.P521, null)]
    [InlineData(KeyAlgorithms.Ec, 0, null, "an EC key with explicit curve parameters; only the named curves P-256, P-384 and P-521 are accepted")]
    [InlineData(KeyAlgorithms.Ec, 0, KeyAlgorithms.P192, "EC P-192; only P-256, P-384 and P-521 are accepted")]
    [InlineData(KeyAlgorithms.Ec, 0, "1.3.132.0.10", "EC curve 1.3.132.0.10; only P-256, P-384 and P-521 are accepted")]
    [InlineData(KeyAlgorithms.Ed25519, 0, null, null)]
    [InlineData(KeyAlgorithms.Ed448, 0, null, null)]
    [InlineData(KeyAlgorithms.Dsa, 0, null, "a DSA key; use RSA (2048 bits or more) or EC P-256/P-384")]
    [InlineData("1.2.3.4", 0, null, "the key algorithm 1.2.3.4 is not supported for TLS; use RSA (2048 bits or more) or EC P-256/P-384")]
    public void WeakKeyReason_NamesTheDefect(string algorithm, int rsaBits, string? curve, string? reason) =>
        Assert.Equal(reason, ServerCertificateProfile.WeakKeyReason(algorithm, rsaBits, curve));
}
