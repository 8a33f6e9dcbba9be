using System.Globalization;
using System.Text;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// The messages shared by several parts of the package, and the names of the settings they point at. Messages that only
/// one rule raises live with that rule (<see cref="TlsPolicy"/>'s validation, <see cref="CertificateFailures"/>,
/// <see cref="ConnectionFailures"/>). Each says what failed, the value seen and the fix (the setting name and its
/// environment variable). None contains a secret or a PEM body.
/// </summary>
internal static class Messages
{
    // Where each TLS setting comes from, for messages.
    internal const string CertFileSetting = "TlsOptions.MasterCertificateFile (config Determined:Tls:MasterCertificateFile, env DET_MASTER_CERT_FILE; agent: security.tls.master_cert / DET_SECURITY_TLS_MASTER_CERT)";
    internal const string CertPemSetting = "TlsOptions.MasterCertificatePem (config Determined:Tls:MasterCertificatePem)";
    internal const string CertNameSetting = "TlsOptions.MasterCertificateName (config Determined:Tls:MasterCertificateName, env DET_MASTER_CERT_NAME; agent: security.tls.master_cert_name / DET_SECURITY_TLS_MASTER_CERT_NAME)";
    internal const string SkipSetting = "TlsOptions.DangerousSkipVerification (config Determined:Tls:DangerousSkipVerification, env DET_MASTER_CERT_FILE=noverify; agent: security.tls.skip_verify / DET_SECURITY_TLS_SKIP_VERIFY)";
    internal const string ClientCertSetting = "TlsOptions.ClientCertificateFile (config Determined:Tls:ClientCertificateFile; agent: security.tls.client_cert)";
    internal const string ClientKeySetting = "TlsOptions.ClientKeyFile (config Determined:Tls:ClientKeyFile; agent: security.tls.client_key)";

    internal const string ClientCertPasswordSetting = "TlsOptions.ClientCertificatePasswordFile or ClientCertificatePasswordVariable (config Determined:Tls:ClientCertificatePasswordFile / …Variable)";
    internal const string MasterCertPasswordSetting = "TlsOptions.MasterCertificatePasswordFile or MasterCertificatePasswordVariable (config Determined:Tls:MasterCertificatePasswordFile / …Variable)";

    public static string WrongPassword(string path, string passwordSetting) =>
        $"The password for '{path}' is wrong (the file could not be decrypted with the password from {passwordSetting}). Fix: give the password the file was created with.";

    public static string PasswordFileAndVariable(string what) =>
        $"{what}: both a password file and a password environment variable are set. Fix: use one of them.";

    public static string PasswordVariableUnset(string variable, string what) =>
        $"{what}: the environment variable '{variable}' that should hold the password is not set. Fix: export it, or use a password file.";

    private static readonly CompositeFormat s_dateFormat = CompositeFormat.Parse("{0:yyyy-MM-dd HH:mm:ss}Z");

    public static string PinnedWithSkip(string pinned) =>
        $"{CertFileSetting} is set to '{pinned}' and {SkipSetting} is on: cannot specify a master cert file with verification off. " +
        "Fix: keep the pinned file and turn skip-verification off (recommended), or remove the pinned file.";

    public static string FileAndPem(string path) =>
        $"{CertFileSetting} ('{path}') and {CertPemSetting} are both set; only one source of pinned certificates is allowed. Fix: remove one of them.";

    public static string PinnedOnlyWithoutPins() =>
        $"TlsOptions.TrustMode is PinnedOnly but nothing is pinned, so no certificate could ever be trusted. Fix: set {CertFileSetting} or {CertPemSetting}, or use TrustMode PinnedAdded to trust the system roots.";

    public static string KeyWithoutCertificate(string keyPath) =>
        $"{ClientKeySetting} is set to '{keyPath}' but {ClientCertSetting} is not. Fix: set the client certificate file too, or remove the key file.";

    public static string BlankName() =>
        $"{CertNameSetting} is blank. Fix: set it to a DNS name or IP address from the master certificate, or leave it unset.";

    public static string FileMissing(string path, string setting) =>
        $"The file '{path}' given by {setting} does not exist. Fix: point the setting at an existing PEM file (Determined tasks get /run/determined/etc/ssl/master.crt), or unset it.";

    public static string FileUnsupported(string setting, Exception cause) =>
        $"The file given by {setting} cannot be used: {cause.Message}. Fix: point the setting at a regular PEM (or PKCS#12) file.";

    public static string FileUnreadable(string path, string setting, Exception cause) =>
        $"The file '{path}' given by {setting} cannot be read ({cause.GetType().Name}: {cause.Message}). Fix: check its permissions (the process runs as '{Environment.UserName}').";

    public static string NoCertificates(string source, string setting, string? hint) =>
        $"'{source}' given by {setting} contains no PEM certificate (certificate file contains no certificates); expected one or more '-----BEGIN CERTIFICATE-----' blocks.{hint} Fix: use the PEM file with the master's CA chain or its certificate.";

    public static string PrivateKeyInTrustFile(string source, string setting) =>
        $"'{source}' given by {setting} contains a private key, but a trust file must hold only certificates. Fix: remove the private key block from this file and keep the key only where it is used (the master's security.tls.key).";

    public static string InvalidCertificate(string source, string setting, int index, Exception cause) =>
        $"Certificate #{index + 1} in '{source}' given by {setting} is not a valid X.509 certificate ({cause.Message}). Fix: replace the file with a valid PEM certificate.";

    public static string DerHint(string path) =>
        $" The file looks like binary DER; convert it with: openssl x509 -inform der -in '{path}' -out '{path}.pem'.";

    public static string ClientKeyMissing(string certPath) =>
        $"The client certificate '{certPath}' given by {ClientCertSetting} has no private key in it and {ClientKeySetting} is not set. Fix: set the key file (or put the key in the same PEM file).";

    public static string ClientKeyUnreadable(string keyPath, Exception cause) =>
        $"The private key '{keyPath}' given by {ClientKeySetting} cannot be loaded ({cause.Message}). Supported: PEM PKCS#8 ('PRIVATE KEY'), PKCS#1 ('RSA PRIVATE KEY'), SEC1 ('EC PRIVATE KEY'). Fix: point the setting at the PEM private key of the client certificate.";

    public static string ClientKeyMismatch(string certPath, string keyPath) =>
        $"The private key '{keyPath}' ({ClientKeySetting}) does not belong to the certificate '{certPath}' ({ClientCertSetting}). Fix: use the key the certificate was issued for.";

    public static string BadPin(string value) =>
        $"'{Shorten(value)}' is not a SHA-256 certificate fingerprint or public-key pin. Accepted: 'ab:cd:…' (32 hex pairs, any case, optional 'sha256:' prefix), 64 hex digits, or 'sha256/<base64 of 32 bytes>'. Fix: copy the fingerprint from 'openssl x509 -noout -fingerprint -sha256 -in cert.pem' or from the error that showed it.";

    public static string Failure(MasterConnectionError error, string host, X509Certificate2? leaf, string detail, string fix)
    {
        var presented = leaf is null ? string.Empty : $" Presented: {CertificateSummary.Create(leaf)}.";
        return $"TLS certificate check for master '{host}' failed ({error}): {detail}.{presented} Fix: {fix}";
    }

    /// <summary>The fix when an https:// URL reaches a plain HTTP port: TLS first; plain HTTP only knowingly, with the exact address.</summary>
    public static string PlaintextFix(Uri uri) =>
        $"enable TLS on the master (security.tls.cert and security.tls.key; a TLS master listens on 8443 by default), or check the port; only if this master is meant to run without TLS, use http://{MasterConnector.Endpoint(uri)} (tokens and passwords then cross the network unencrypted)";

    public static string Date(DateTimeOffset value) => string.Format(CultureInfo.InvariantCulture, s_dateFormat, value.UtcDateTime);

    public static string BadCertificateName(string value) =>
        $"{CertNameSetting} is '{SafeText.Ascii(value)}', which is not a host name or an IP address. It must be one name the master certificate holds, such as master.example.com or 10.0.0.5: no wildcard, port, scheme, path, space or control character. Fix: set it to a DNS name or IP address from the master certificate's subject alternative names, or unset it.";

    private static string Shorten(string value) => value.Length <= 120 ? value : value[..120] + "…";
}
