using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// What identifies a certificate to a person: subject, issuer, names, validity and fingerprints.
/// Never the PEM body or any key material.
/// </summary>
public sealed class CertificateSummary
{
    private const int MaxNamesShown = 20;

    private CertificateSummary(X509Certificate2 certificate)
    {
        // Read from the DER with the SDK's own exception-free reader: a summary of a malformed certificate (in a
        // rejection message) must never throw.
        var facts = CertificateFacts.Read(RawData(certificate));
        Subject = SafeSubject(certificate);
        Issuer = Safe(() => certificate.Issuer);
        NotBefore = facts.NotBefore;
        NotAfter = facts.NotAfter;
        Sha256Fingerprint = Safe(() => CertificatePin.Sha256Fingerprint(certificate));
        SpkiPin = Safe(() => CertificatePin.SpkiPin(certificate));
        DnsNames = facts.DnsNames.Select(SafeText.Ascii).ToList();
        IPAddresses = facts.IPAddresses.Select(a => new IPAddress(a)).ToList();
        IsCertificateAuthority = facts.IsCertificateAuthority;
        IsSelfIssued = facts.Malformed is null ? facts.SelfIssued : string.Equals(Subject, Issuer, StringComparison.Ordinal);
    }

    private static ReadOnlyMemory<byte> RawData(X509Certificate2 certificate)
    {
        try
        {
            return certificate.RawDataMemory;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return ReadOnlyMemory<byte>.Empty;
        }
    }

    /// <summary>The subject, escaped for printing, or a placeholder when it cannot be decoded.</summary>
    internal static string SafeSubject(X509Certificate2 certificate) => Safe(() => certificate.Subject);

    private static string Safe(Func<string> read)
    {
        try
        {
            return SafeText.Ascii(read());
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException or InvalidOperationException or FormatException)
        {
            return "<unreadable>";
        }
    }

    /// <summary>Gets the subject distinguished name.</summary>
    public string Subject { get; }

    /// <summary>Gets the issuer distinguished name.</summary>
    public string Issuer { get; }

    /// <summary>Gets the start of the validity period (UTC).</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>Gets the end of the validity period (UTC).</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>Gets the SHA-256 fingerprint of the DER encoding, lowercase hex pairs joined by <c>:</c>, as Determined prints it.</summary>
    public string Sha256Fingerprint { get; }

    /// <summary>Gets the SHA-256 pin of the subject public key info, as <c>sha256/&lt;base64&gt;</c>.</summary>
    public string SpkiPin { get; }

    /// <summary>Gets the DNS names of the subject alternative name extension.</summary>
    public IReadOnlyList<string> DnsNames { get; }

    /// <summary>Gets the IP addresses of the subject alternative name extension.</summary>
    public IReadOnlyList<IPAddress> IPAddresses { get; }

    /// <summary>Gets a value indicating whether the certificate is a CA certificate (basic constraints).</summary>
    public bool IsCertificateAuthority { get; }

    /// <summary>Gets a value indicating whether subject and issuer are the same (a root or a self-signed certificate).</summary>
    public bool IsSelfIssued { get; }

    /// <summary>Gets every name the certificate can be verified against: DNS names, then IP addresses.</summary>
    public IEnumerable<string> Names => DnsNames.Concat(IPAddresses.Select(ip => ip.ToString()));

    /// <summary>Summarizes a certificate.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The summary.</returns>
    public static CertificateSummary Create(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new CertificateSummary(certificate);
    }

    /// <summary>Returns subject, names, SHA-256 fingerprint and expiry on one line.</summary>
    /// <returns>A one-line description for logs and messages.</returns>
    public override string ToString()
    {
        var names = Names.Take(MaxNamesShown + 1).ToList();
        var shown = names.Count > MaxNamesShown
            ? string.Join(", ", names.Take(MaxNamesShown)) + $" and {DnsNames.Count + IPAddresses.Count - MaxNamesShown} more"
            : string.Join(", ", names);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"'{Subject}' (names: {(names.Count == 0 ? "none" : shown)}; SHA-256 {Sha256Fingerprint}; valid {NotBefore:yyyy-MM-dd HH:mm:ss}Z to {NotAfter:yyyy-MM-dd HH:mm:ss}Z)");
    }
}
