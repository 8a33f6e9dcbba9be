using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>What a <see cref="CertificatePin"/> hashes.</summary>
public enum CertificatePinKind
{
    /// <summary>SHA-256 of the whole certificate (DER): what Determined and <c>openssl x509 -fingerprint -sha256</c> print. Changes on every renewal.</summary>
    CertificateSha256,

    /// <summary>SHA-256 of the subject public key info (<c>sha256/&lt;base64&gt;</c>, as OkHttp and HPKP): survives a renewal that keeps the key.</summary>
    PublicKeySha256,
}

/// <summary>
/// An expected certificate, given as a SHA-256 fingerprint or an SPKI pin, in any form a user types one.
/// </summary>
/// <remarks>
/// Accepted forms: <c>ab:cd:…</c> (Determined), <c>AB:CD:…</c> or <c>SHA256 Fingerprint=AB:CD:…</c> (OpenSSL),
/// 64 hex digits without colons, any case, with an optional <c>sha256:</c> prefix; and
/// <c>sha256/&lt;base64&gt;</c> or <c>pin-sha256="&lt;base64&gt;"</c> for public-key pins.
/// </remarks>
public sealed class CertificatePin : IEquatable<CertificatePin>
{
    private readonly byte[] _hash;

    private CertificatePin(CertificatePinKind kind, byte[] hash)
    {
        Kind = kind;
        _hash = hash;
    }

    /// <summary>Gets what the pin hashes.</summary>
    public CertificatePinKind Kind { get; }

    /// <summary>Gets the 32-byte SHA-256 value.</summary>
    public ReadOnlyMemory<byte> Hash => _hash;

    /// <summary>Returns the Determined form of a certificate's SHA-256 fingerprint: lowercase hex pairs joined by <c>:</c>.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>For example <c>3a:0f:…</c>.</returns>
    public static string Sha256Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return FormatHex(certificate.GetCertHash(HashAlgorithmName.SHA256), upperCase: false);
    }

    /// <summary>Returns a certificate's SHA-256 fingerprint as OpenSSL prints it: uppercase hex pairs joined by <c>:</c>.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>For example <c>3A:0F:…</c>.</returns>
    public static string Sha256FingerprintOpenSsl(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return FormatHex(certificate.GetCertHash(HashAlgorithmName.SHA256), upperCase: true);
    }

    /// <summary>Returns a certificate's public-key pin: <c>sha256/</c> and the base64 SHA-256 of its subject public key info.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>For example <c>sha256/AbC…=</c>.</returns>
    public static string SpkiPin(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return "sha256/" + Convert.ToBase64String(SpkiHash(certificate));
    }

    /// <summary>Creates the pin of a certificate.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <param name="kind">Whether to pin the whole certificate or its public key.</param>
    /// <returns>The pin.</returns>
    public static CertificatePin FromCertificate(X509Certificate2 certificate, CertificatePinKind kind = CertificatePinKind.CertificateSha256)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new CertificatePin(kind, kind == CertificatePinKind.PublicKeySha256 ? SpkiHash(certificate) : certificate.GetCertHash(HashAlgorithmName.SHA256));
    }

    /// <summary>Parses a fingerprint or pin in any accepted form.</summary>
    /// <param name="value">The text.</param>
    /// <returns>The pin.</returns>
    /// <exception cref="FormatException">The text is not a SHA-256 fingerprint or pin; the message shows the accepted forms.</exception>
    public static CertificatePin Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return TryParse(value, out var pin) ? pin : throw new FormatException(Messages.BadPin(value));
    }

    /// <summary>Tries to parse a fingerprint or pin in any accepted form.</summary>
    /// <param name="value">The text.</param>
    /// <param name="pin">The pin, when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, [NotNullWhen(true)] out CertificatePin? pin)
    {
        pin = null;
        if (value is null)
        {
            return false;
        }

        var text = value.Trim();
        if (text.StartsWith("pin-sha256=", StringComparison.OrdinalIgnoreCase))
        {
            return TryParseBase64(text["pin-sha256=".Length..].Trim('"', '\''), out pin);
        }

        if (text.StartsWith("sha256/", StringComparison.OrdinalIgnoreCase))
        {
            return TryParseBase64(text["sha256/".Length..], out pin);
        }

        foreach (var prefix in (ReadOnlySpan<string>)["SHA256 Fingerprint=", "sha256 fingerprint:", "sha256:", "sha-256:"])
        {
            if (text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                text = text[prefix.Length..].Trim();
                break;
            }
        }

        Span<char> hex = stackalloc char[64];
        var count = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == ':' && i % 3 == 2)
            {
                continue;
            }

            if (!char.IsAsciiHexDigit(c) || count == 64)
            {
                return false;
            }

            hex[count++] = c;
        }

        if (count != 64 || (text.Contains(':', StringComparison.Ordinal) && text.Length != 95))
        {
            return false;
        }

        pin = new CertificatePin(CertificatePinKind.CertificateSha256, Convert.FromHexString(hex));
        return true;
    }

    /// <summary>Checks whether a certificate has this fingerprint (or public key).</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns><see langword="true"/> on a match.</returns>
    public bool Matches(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var actual = Kind == CertificatePinKind.PublicKeySha256 ? SpkiHash(certificate) : certificate.GetCertHash(HashAlgorithmName.SHA256);
        return CryptographicOperations.FixedTimeEquals(actual, _hash);
    }

    /// <summary>Returns the canonical text: the Determined fingerprint form, or <c>sha256/&lt;base64&gt;</c> for public-key pins.</summary>
    /// <returns>The text.</returns>
    public override string ToString() =>
        Kind == CertificatePinKind.PublicKeySha256 ? "sha256/" + Convert.ToBase64String(_hash) : FormatHex(_hash, upperCase: false);

    /// <inheritdoc />
    public bool Equals(CertificatePin? other) => other is not null && other.Kind == Kind && _hash.AsSpan().SequenceEqual(other._hash);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as CertificatePin);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, BitConverter.ToInt32(_hash, 0));

    internal static byte[] SpkiHash(X509Certificate2 certificate) =>
        SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo());

    private static bool TryParseBase64(string text, [NotNullWhen(true)] out CertificatePin? pin)
    {
        pin = null;
        Span<byte> buffer = stackalloc byte[48];
        if (!Convert.TryFromBase64String(text, buffer, out var written) || written != 32)
        {
            return false;
        }

        pin = new CertificatePin(CertificatePinKind.PublicKeySha256, buffer[..32].ToArray());
        return true;
    }

    private static string FormatHex(ReadOnlySpan<byte> hash, bool upperCase)
    {
        var hex = upperCase ? Convert.ToHexString(hash) : Convert.ToHexStringLower(hash);
        return string.Create(hash.Length * 3 - 1, hex, static (span, h) =>
        {
            for (int i = 0, j = 0; i < h.Length; i += 2)
            {
                if (i > 0)
                {
                    span[j++] = ':';
                }

                span[j++] = h[i];
                span[j++] = h[i + 1];
            }
        });
    }
}
