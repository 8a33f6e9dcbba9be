namespace Determined.Security;

/// <summary>The profile's key-strength rule (docs/SECURITY-PROFILE.md): which public keys a chain may carry.</summary>
internal static partial class ServerCertificateProfile
{
    /// <summary>
    /// Why a certificate's key is refused, or <see langword="null"/> when it is acceptable: RSA of at least 2048 bits, EC on
    /// the named curves P-256, P-384 or P-521, Ed25519 or Ed448. DSA, other curves, explicit curve parameters and unknown
    /// algorithms are refused.
    /// </summary>
    internal static string? WeakKeyReason(CertificateFacts f) => WeakKeyReason(f.KeyAlgorithm, f.RsaKeyBits, f.EcCurve);

    /// <summary>The same rule on the key's facts: its algorithm (OID), RSA modulus length and named curve (OID, or null).</summary>
    internal static string? WeakKeyReason(string algorithm, int rsaBits, string? curve) => algorithm switch
    {
        KeyAlgorithms.Rsa or KeyAlgorithms.RsaPss => rsaBits < 2048 ? $"RSA {rsaBits} bits; at least 2048 are required" : null,
        KeyAlgorithms.Ec => curve switch
        {
            KeyAlgorithms.P256 or KeyAlgorithms.P384 or KeyAlgorithms.P521 => null,
            null => "an EC key with explicit curve parameters; only the named curves P-256, P-384 and P-521 are accepted",
            KeyAlgorithms.P192 => "EC P-192; only P-256, P-384 and P-521 are accepted",
            _ => $"EC curve {curve}; only P-256, P-384 and P-521 are accepted",
        },
        KeyAlgorithms.Ed25519 or KeyAlgorithms.Ed448 => null,
        KeyAlgorithms.Dsa => "a DSA key; use RSA (2048 bits or more) or EC P-256/P-384",
        _ => $"the key algorithm {algorithm} is not supported for TLS; use RSA (2048 bits or more) or EC P-256/P-384",
    };
}
