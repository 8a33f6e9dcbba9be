using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// Loads a client identity for mutual TLS (<see cref="TlsOptions.ClientCertificateFile"/> and
/// <see cref="TlsOptions.ClientKeyFile"/>): a PEM certificate with its key (in the same file or another, encrypted or not)
/// or a PKCS#12 keystore with one private key, reporting each problem with the path and the fix.
/// </summary>
internal static class ClientIdentityFiles
{
    /// <summary>Loads a client identity (leaf with private key, plus intermediates) from PEM files.</summary>
    public static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates)? Load(string certPath, string? keyPath, List<string> errors, string? password = null)
    {
        if (!CertificateFormats.TryReadText(certPath, Messages.ClientCertSetting, errors, out var certText, out var certBytes))
        {
            return null;
        }

        if (CertificateFormats.IsJavaKeyStore(certBytes, certPath, Messages.ClientCertSetting, errors))
        {
            return null;
        }

        if (CertificateFormats.IsPkcs12(certBytes))
        {
            return LoadPkcs12Identity(certBytes, certPath, password, errors);
        }

        var certs = TrustMaterialFiles.LoadCertificatesOnly(certText);
        if (certs.Count == 0)
        {
            errors.Add(Messages.NoCertificates(certPath, Messages.ClientCertSetting, null));
            return null;
        }

        string keyText;
        string keySource;
        if (keyPath is null)
        {
            if (!CertificateFormats.EnumeratePem(certText).Any(b => CertificateFormats.PrivateKeyLabels.Contains(b.Label, StringComparer.Ordinal)))
            {
                errors.Add(Messages.ClientKeyMissing(certPath));
                return null;
            }

            keyText = certText;
            keySource = certPath;
        }
        else
        {
            if (!CertificateFormats.TryReadText(keyPath, Messages.ClientKeySetting, errors, out keyText, out _))
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

                    var usable = ForThisPlatform(withKey, keySource, errors);
                    return usable is null ? null : (usable, intermediates);
                }
            }
        }

        errors.Add(Messages.ClientKeyMismatch(certPath, keySource));
        return null;
    }

    private static AsymmetricAlgorithm ImportKey(string pem, string? password)
    {
        foreach (var (label, _) in CertificateFormats.EnumeratePem(pem))
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

    /// <summary>
    /// The identity in a form the platform's TLS can sign with. Windows' SChannel cannot use an ephemeral key (what
    /// <c>CopyWithPrivateKey</c> makes) for a client certificate: there the identity goes
    /// through PKCS#12 into a key the system stores for this process (removed when the certificate is disposed).
    /// Elsewhere the key stays in memory only.
    /// </summary>
    internal static X509Certificate2? ForThisPlatform(X509Certificate2 withKey, string keySource, List<string> errors)
    {
        if (!OperatingSystem.IsWindows())
        {
            return withKey;
        }

        try
        {
            using (withKey)
            {
                return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.DefaultKeySet, Pkcs12LoaderLimits.Defaults);
            }
        }
        catch (CryptographicException ex)
        {
            errors.Add($"The client key '{keySource}' ({Messages.ClientKeySetting}) cannot be stored for Windows' TLS, which needs it to present the client certificate ({ex.Message}). Fix: give the identity as a PKCS#12 keystore (openssl pkcs12 -export) in TlsOptions.ClientCertificateFile, or check that this user may create keys (its profile is loaded).");
            return null;
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
        var all = CertificateFormats.LoadPkcs12(bytes, path, Messages.ClientCertSetting, password, errors);
        if (all is null)
        {
            return null;
        }

        var withKeys = all.Where(c => c.HasPrivateKey).ToList();
        if (withKeys.Count != 1)
        {
            var contents = string.Join("; ", all.Select(c => $"'{c.Subject}'{(c.HasPrivateKey ? " with a private key" : string.Empty)}"));
            errors.Add(withKeys.Count == 0 && CertificateFormats.HoldsKeyBag(bytes, password)
                ? $"The keystore '{path}' ({Messages.ClientCertSetting}) holds a private key, but it could not be loaded with the keystore's password, so only {all.Count} certificate(s) came out: {contents}. Either the key is protected by another password than the file (keytool -keypass), or this platform cannot import it (on Windows: a user whose profile is not loaded). Fix: export it again with one password for the file and the key (openssl pkcs12 -export), or give the certificate and its key as PEM files."
                : withKeys.Count == 0
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
}
