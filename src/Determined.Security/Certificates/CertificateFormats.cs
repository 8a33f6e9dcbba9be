using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// The file formats certificates and keys arrive in: bounded reads of hostile files, PEM blocks, PKCS#12 (its password
/// checked by the file's MAC first), and the formats recognised only to say how to convert them (Java keystores, DER).
/// </summary>
internal static class CertificateFormats
{
    internal static readonly string[] PrivateKeyLabels = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY"];

    public static IEnumerable<(string Label, byte[] Der)> EnumeratePem(string text)
    {
        var remaining = text.AsMemory();
        while (PemEncoding.TryFind(remaining.Span, out var fields))
        {
            var span = remaining.Span;
            var label = span[fields.Label].ToString();
            var der = new byte[fields.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(span[fields.Base64Data], der, out _))
            {
                der = [];
            }

            remaining = remaining[fields.Location.End..];
            yield return (label, der);
        }
    }

    /// <summary>Reads a PKCS#12 file, checking the password with the file's MAC first so a wrong one gets its own message.</summary>
    public static X509Certificate2Collection? LoadPkcs12(byte[] bytes, string path, string setting, string? password, List<string> errors)
    {
        var passwordVerified = false;
        try
        {
            var info = Pkcs12Info.Decode(bytes, out _, skipCopy: true);
            if (info.IntegrityMode == Pkcs12IntegrityMode.Password)
            {
                if (!info.VerifyMac(password) && !(password is null && info.VerifyMac(string.Empty)))
                {
                    errors.Add(Messages.WrongPassword(path, setting.StartsWith("TlsOptions.Client", StringComparison.Ordinal) ? Messages.ClientCertPasswordSetting : Messages.MasterCertPasswordSetting));
                    return null;
                }

                passwordVerified = true;
            }

            return X509CertificateLoader.LoadPkcs12Collection(bytes, password, KeyStorage, Pkcs12LoaderLimits.Defaults);
        }
        catch (CryptographicException ex) when (passwordVerified && ex is not Pkcs12LoadLimitExceededException)
        {
            // The MAC checks out with the password, so the password is right; what failed is a key protected by another
            // password (keytool -keypass), the platform's key import (some report it with no reason at all, e.g. "Success."
            // under Wine) or damaged contents, so the code is shown and the password is not blamed.
            errors.Add($"The PKCS#12 file '{path}' given by {setting} opens with its password (its MAC checks out), but what it holds cannot be loaded ({ex.Message} HRESULT 0x{ex.HResult:X8}). Its private key may be protected by another password than the file (keytool -keypass), this platform may not import keys (on Windows: a user whose profile is not loaded), or its contents are damaged. Fix: export it again with one password for the file and the key (openssl pkcs12 -export), or give the certificate and its key as PEM files.");
            return null;
        }
        catch (CryptographicException ex)
        {
            errors.Add($"The PKCS#12 file '{path}' given by {setting} cannot be read ({ex.Message}). Fix: check the file and its password.");
            return null;
        }
        catch (PlatformNotSupportedException ex)
        {
            errors.Add($"The PKCS#12 file '{path}' given by {setting} cannot be loaded on this platform ({ex.Message}). Fix: give the certificate and its key as PEM files (TlsOptions.ClientCertificateFile and ClientKeyFile), or the certificates alone as PEM.");
            return null;
        }
    }

    /// <summary>
    /// Whether a PKCS#12 file has a key bag (plain or shrouded), looking into the safes the password opens. The loader drops
    /// a key it cannot open, so a keystore whose key has its own password would otherwise read as a truststore.
    /// </summary>
    internal static bool HoldsKeyBag(byte[] bytes, string? password)
    {
        // The loader itself, allowed no key: it stops at the first key bag, before decrypting or importing it, within the
        // same iteration limits as the load that came before (no second, unbounded decode of the file).
        try
        {
            foreach (var certificate in X509CertificateLoader.LoadPkcs12Collection(bytes, password, KeyStorage, new Pkcs12LoaderLimits(Pkcs12LoaderLimits.Defaults) { MaxKeys = 0 }))
            {
                certificate.Dispose();
            }

            return false;
        }
        catch (Pkcs12LoadLimitExceededException)
        {
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>
    /// Where PKCS#12 keys are loaded: in memory only (ephemeral) where the platform allows it and can use such keys for TLS;
    /// macOS cannot load keys ephemerally (PlatformNotSupportedException) and Windows' SChannel cannot present a client
    /// certificate with an ephemeral key, so there the system's default, removed when the certificate is disposed.
    /// </summary>
    internal static X509KeyStorageFlags KeyStorage =>
        OperatingSystem.IsMacOS() || OperatingSystem.IsWindows() ? X509KeyStorageFlags.DefaultKeySet : X509KeyStorageFlags.EphemeralKeySet;

    /// <summary>Only binary DER can be PKCS#12; the PKCS assembly is loaded only for such files.</summary>
    public static bool IsPkcs12(byte[] bytes) => bytes.Length >= 4 && bytes[0] == 0x30 && DecodesAsPkcs12(bytes);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static bool DecodesAsPkcs12(byte[] bytes)
    {
        try
        {
            _ = Pkcs12Info.Decode(bytes, out _, skipCopy: true);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>Java's legacy JKS/JCEKS stores cannot be read by .NET: recognise them and say how to convert.</summary>
    public static bool IsJavaKeyStore(byte[] bytes, string path, string setting, List<string> errors)
    {
        if (bytes.Length >= 4 && ((bytes[0] == 0xFE && bytes[1] == 0xED && bytes[2] == 0xFE && bytes[3] == 0xED) || (bytes[0] == 0xCE && bytes[1] == 0xCE && bytes[2] == 0xCE && bytes[3] == 0xCE)))
        {
            errors.Add($"'{path}' given by {setting} is a Java {(bytes[0] == 0xFE ? "JKS" : "JCEKS")} keystore, which .NET cannot read. Fix: convert it to PKCS#12: keytool -importkeystore -srckeystore '{path}' -destkeystore '{path}.p12' -deststoretype PKCS12, then use '{path}.p12' (its password from a file or an environment variable).");
            return true;
        }

        return false;
    }

    public static bool TryReadText(string path, string setting, List<string> errors, out string text, out byte[] bytes)
    {
        text = string.Empty;
        bytes = [];
        try
        {
            bytes = BoundedFile.ReadAllBytes(path, BoundedFile.MaxCredentialBytes);
            text = System.Text.Encoding.UTF8.GetString(bytes);
            return true;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            errors.Add(Messages.FileMissing(path, setting));
        }
        catch (UnsupportedFileException ex)
        {
            errors.Add(Messages.FileUnsupported(setting, ex));
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            errors.Add(Messages.FileUnreadable(path, setting, ex));
        }

        return false;
    }

    /// <summary>DER starts with a SEQUENCE (0x30) and has no PEM armour anywhere.</summary>
    public static bool LooksBinary(byte[] bytes) => bytes.Length > 1 && bytes[0] == 0x30 && bytes.AsSpan().IndexOf("-----BEGIN"u8) < 0;
}
