using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>Loads trust material and identities from PEM, PKCS#12 (and recognises JKS), reporting each problem with the path and the fix.</summary>
internal static class CertificateFiles
{
    private static readonly string[] s_privateKeyLabels = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY"];

    /// <summary>Reads a file (or a directory of .pem/.crt files) of trusted certificates.</summary>
    public static X509Certificate2Collection LoadTrustFile(string path, string setting, List<string> errors, string? password = null)
    {
        var result = new X509Certificate2Collection();
        if (Directory.Exists(path))
        {
            List<string> files;
            try
            {
                files = Directory.EnumerateFiles(path)
                    .Where(f => f.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".crt", StringComparison.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal)
                    .ToList();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add(Messages.FileUnreadable(path, setting, ex));
                return result;
            }

            foreach (var file in files)
            {
                result.AddRange(LoadTrustFile(file, setting, errors, password));
            }

            if (files.Count == 0)
            {
                errors.Add(Messages.NoCertificates(path, setting, " The directory has no .pem or .crt files."));
            }

            return result;
        }

        if (!TryReadText(path, setting, errors, out var text, out var bytes))
        {
            return result;
        }

        if (IsJavaKeyStore(bytes, path, setting, errors))
        {
            return result;
        }

        if (IsPkcs12(bytes))
        {
            var all = LoadPkcs12(bytes, path, setting, password, errors);
            if (all is null)
            {
                return result;
            }

            if (all.Any(c => c.HasPrivateKey))
            {
                errors.Add(Messages.PrivateKeyInTrustFile(path, setting));
                return result;
            }

            if (all.Count == 0)
            {
                errors.Add(Messages.NoCertificates(path, setting, " The PKCS#12 file holds no certificate."));
            }

            return all;
        }

        return LoadTrustPem(text, path, setting, errors, LooksBinary(bytes) ? Messages.DerHint(path) : null);
    }

    /// <summary>Reads trusted certificates from PEM text.</summary>
    public static X509Certificate2Collection LoadTrustPem(string pem, string source, string setting, List<string> errors, string? hint = null)
    {
        var result = new X509Certificate2Collection();
        var hasKey = false;
        var index = 0;
        foreach (var (label, der) in EnumeratePem(pem))
        {
            if (s_privateKeyLabels.Contains(label, StringComparer.Ordinal))
            {
                hasKey = true;
                continue;
            }

            if (label is not ("CERTIFICATE" or "TRUSTED CERTIFICATE" or "X509 CERTIFICATE"))
            {
                continue;
            }

            try
            {
                result.Add(X509CertificateLoader.LoadCertificate(der));
            }
            catch (CryptographicException ex)
            {
                errors.Add(Messages.InvalidCertificate(source, setting, index, ex));
            }

            index++;
        }

        if (hasKey)
        {
            errors.Add(Messages.PrivateKeyInTrustFile(source, setting));
        }
        else if (index == 0)
        {
            errors.Add(Messages.NoCertificates(source, setting, hint));
        }

        return result;
    }

    /// <summary>Loads a client identity (leaf with private key, plus intermediates) from PEM files.</summary>
    public static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates)? LoadClientIdentity(string certPath, string? keyPath, List<string> errors, string? password = null)
    {
        if (!TryReadText(certPath, Messages.ClientCertSetting, errors, out var certText, out var certBytes))
        {
            return null;
        }

        if (IsJavaKeyStore(certBytes, certPath, Messages.ClientCertSetting, errors))
        {
            return null;
        }

        if (IsPkcs12(certBytes))
        {
            return LoadPkcs12Identity(certBytes, certPath, password, errors);
        }

        var certs = LoadCertificatesOnly(certText);
        if (certs.Count == 0)
        {
            errors.Add(Messages.NoCertificates(certPath, Messages.ClientCertSetting, null));
            return null;
        }

        string keyText;
        string keySource;
        if (keyPath is null)
        {
            if (!EnumeratePem(certText).Any(b => s_privateKeyLabels.Contains(b.Label, StringComparer.Ordinal)))
            {
                errors.Add(Messages.ClientKeyMissing(certPath));
                return null;
            }

            keyText = certText;
            keySource = certPath;
        }
        else
        {
            if (!TryReadText(keyPath, Messages.ClientKeySetting, errors, out keyText, out _))
            {
                return null;
            }

            keySource = keyPath;
        }

        AsymmetricAlgorithm key;
        try
        {
            key = ImportKey(keyText, password);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            errors.Add(keyText.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal) && password is not null
                ? Messages.WrongPassword(keySource, Messages.ClientCertPasswordSetting)
                : Messages.ClientKeyUnreadable(keySource, ex));
            return null;
        }

        using (key)
        {
            for (var i = 0; i < certs.Count; i++)
            {
                var withKey = TryAttachKey(certs[i], key);
                if (withKey is not null)
                {
                    var intermediates = new X509Certificate2Collection();
                    for (var j = 0; j < certs.Count; j++)
                    {
                        if (j != i)
                        {
                            intermediates.Add(certs[j]);
                        }
                    }

                    return (withKey, intermediates);
                }
            }
        }

        errors.Add(Messages.ClientKeyMismatch(certPath, keySource));
        return null;
    }

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

    private static X509Certificate2Collection LoadCertificatesOnly(string text)
    {
        var result = new X509Certificate2Collection();
        foreach (var (label, der) in EnumeratePem(text))
        {
            if (label == "CERTIFICATE")
            {
                try
                {
                    result.Add(X509CertificateLoader.LoadCertificate(der));
                }
                catch (CryptographicException)
                {
                    // Reported as "no certificates" when nothing usable remains.
                }
            }
        }

        return result;
    }

    private static AsymmetricAlgorithm ImportKey(string pem, string? password)
    {
        foreach (var (label, _) in EnumeratePem(pem))
        {
            switch (label)
            {
                case "RSA PRIVATE KEY":
                    return Import(RSA.Create(), pem, null);
                case "EC PRIVATE KEY":
                    return Import(ECDsa.Create(), pem, null);
                case "PRIVATE KEY":
                case "ENCRYPTED PRIVATE KEY":
                    var secret = label == "PRIVATE KEY" ? null : password ?? throw new CryptographicException($"the key is encrypted (ENCRYPTED PRIVATE KEY) and no password was given; set {Messages.ClientCertPasswordSetting}");
                    try
                    {
                        return Import(RSA.Create(), pem, secret);
                    }
                    catch (CryptographicException)
                    {
                        return Import(ECDsa.Create(), pem, secret);
                    }
            }
        }

        throw new CryptographicException("no private key block was found");

        static AsymmetricAlgorithm Import(AsymmetricAlgorithm algorithm, string text, string? password)
        {
            try
            {
                if (password is null)
                {
                    algorithm.ImportFromPem(text);
                }
                else
                {
                    algorithm.ImportFromEncryptedPem(text, password);
                }

                return algorithm;
            }
            catch
            {
                algorithm.Dispose();
                throw;
            }
        }
    }

    private static X509Certificate2? TryAttachKey(X509Certificate2 certificate, AsymmetricAlgorithm key)
    {
        try
        {
            return key switch
            {
                RSA rsa when certificate.GetRSAPublicKey() is { } pub && Same(pub, rsa) => certificate.CopyWithPrivateKey(rsa),
                ECDsa ec when certificate.GetECDsaPublicKey() is { } pub && Same(pub, ec) => certificate.CopyWithPrivateKey(ec),
                _ => null,
            };
        }
        catch (CryptographicException)
        {
            return null;
        }

        static bool Same(AsymmetricAlgorithm publicKey, AsymmetricAlgorithm privateKey)
        {
            using (publicKey)
            {
                return publicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(privateKey.ExportSubjectPublicKeyInfo());
            }
        }
    }

    private static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates)? LoadPkcs12Identity(byte[] bytes, string path, string? password, List<string> errors)
    {
        var all = LoadPkcs12(bytes, path, Messages.ClientCertSetting, password, errors);
        if (all is null)
        {
            return null;
        }

        var withKeys = all.Where(c => c.HasPrivateKey).ToList();
        if (withKeys.Count != 1)
        {
            var contents = string.Join("; ", all.Select(c => $"'{c.Subject}'{(c.HasPrivateKey ? " with a private key" : string.Empty)}"));
            errors.Add(withKeys.Count == 0
                ? $"The keystore '{path}' ({Messages.ClientCertSetting}) holds no private key, only {all.Count} certificate(s): {contents}. It is a truststore: use it as TlsOptions.MasterCertificateFile, and give the client identity as a keystore with its key."
                : $"The keystore '{path}' ({Messages.ClientCertSetting}) holds {withKeys.Count} private keys: {contents}. Fix: export a keystore with one identity (openssl pkcs12 -export, or keytool -importkeystore -srcalias <alias>).");
            return null;
        }

        var intermediates = new X509Certificate2Collection();
        foreach (var c in all)
        {
            if (!ReferenceEquals(c, withKeys[0]))
            {
                intermediates.Add(c);
            }
        }

        return (withKeys[0], intermediates);
    }

    /// <summary>Reads a PKCS#12 file, checking the password with the file's MAC first so a wrong one gets its own message.</summary>
    private static X509Certificate2Collection? LoadPkcs12(byte[] bytes, string path, string setting, string? password, List<string> errors)
    {
        try
        {
            var info = Pkcs12Info.Decode(bytes, out _, skipCopy: true);
            if (info.IntegrityMode == Pkcs12IntegrityMode.Password && !info.VerifyMac(password) && !(password is null && info.VerifyMac(string.Empty)))
            {
                errors.Add(Messages.WrongPassword(path, setting.StartsWith("TlsOptions.Client", StringComparison.Ordinal) ? Messages.ClientCertPasswordSetting : Messages.MasterCertPasswordSetting));
                return null;
            }

            return X509CertificateLoader.LoadPkcs12Collection(bytes, password, X509KeyStorageFlags.EphemeralKeySet, Pkcs12LoaderLimits.Defaults);
        }
        catch (CryptographicException ex)
        {
            errors.Add($"The PKCS#12 file '{path}' given by {setting} cannot be read ({ex.Message}). Fix: check the file and its password.");
            return null;
        }
    }

    /// <summary>Only binary DER can be PKCS#12; the PKCS assembly is loaded only for such files.</summary>
    private static bool IsPkcs12(byte[] bytes) => bytes.Length >= 4 && bytes[0] == 0x30 && DecodesAsPkcs12(bytes);

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
    private static bool IsJavaKeyStore(byte[] bytes, string path, string setting, List<string> errors)
    {
        if (bytes.Length >= 4 && ((bytes[0] == 0xFE && bytes[1] == 0xED && bytes[2] == 0xFE && bytes[3] == 0xED) || (bytes[0] == 0xCE && bytes[1] == 0xCE && bytes[2] == 0xCE && bytes[3] == 0xCE)))
        {
            errors.Add($"'{path}' given by {setting} is a Java {(bytes[0] == 0xFE ? "JKS" : "JCEKS")} keystore, which .NET cannot read. Fix: convert it to PKCS#12: keytool -importkeystore -srckeystore '{path}' -destkeystore '{path}.p12' -deststoretype PKCS12, then use '{path}.p12' (its password from a file or an environment variable).");
            return true;
        }

        return false;
    }

    private static bool TryReadText(string path, string setting, List<string> errors, out string text, out byte[] bytes)
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
    private static bool LooksBinary(byte[] bytes) => bytes.Length > 1 && bytes[0] == 0x30 && bytes.AsSpan().IndexOf("-----BEGIN"u8) < 0;
}
