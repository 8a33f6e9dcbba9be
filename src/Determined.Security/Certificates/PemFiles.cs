using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>Loads trust material and identities from PEM files, reporting each problem with the path and the fix.</summary>
internal static class PemFiles
{
    private static readonly string[] s_privateKeyLabels = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY"];

    /// <summary>Reads a file (or a directory of .pem/.crt files) of trusted certificates.</summary>
    public static X509Certificate2Collection LoadTrustFile(string path, string setting, List<string> errors)
    {
        var result = new X509Certificate2Collection();
        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path)
                .Where(f => f.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".crt", StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal)
                .ToList();
            foreach (var file in files)
            {
                result.AddRange(LoadTrustFile(file, setting, errors));
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
    public static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates)? LoadClientIdentity(string certPath, string? keyPath, List<string> errors)
    {
        if (!TryReadText(certPath, Messages.ClientCertSetting, errors, out var certText, out _))
        {
            return null;
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
            key = ImportKey(keyText);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            errors.Add(Messages.ClientKeyUnreadable(keySource, ex));
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

    private static AsymmetricAlgorithm ImportKey(string pem)
    {
        foreach (var (label, _) in EnumeratePem(pem))
        {
            switch (label)
            {
                case "RSA PRIVATE KEY":
                    return Import(RSA.Create(), pem);
                case "EC PRIVATE KEY":
                    return Import(ECDsa.Create(), pem);
                case "PRIVATE KEY":
                    try
                    {
                        return Import(RSA.Create(), pem);
                    }
                    catch (CryptographicException)
                    {
                        return Import(ECDsa.Create(), pem);
                    }

                case "ENCRYPTED PRIVATE KEY":
                    throw new CryptographicException("the key is encrypted (ENCRYPTED PRIVATE KEY) and no password was given");
            }
        }

        throw new CryptographicException("no private key block was found");

        static AsymmetricAlgorithm Import(AsymmetricAlgorithm algorithm, string text)
        {
            try
            {
                algorithm.ImportFromPem(text);
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

    private static bool TryReadText(string path, string setting, List<string> errors, out string text, out byte[] bytes)
    {
        text = string.Empty;
        bytes = [];
        try
        {
            bytes = File.ReadAllBytes(path);
            text = System.Text.Encoding.UTF8.GetString(bytes);
            return true;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            errors.Add(Messages.FileMissing(path, setting));
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            errors.Add(Messages.FileUnreadable(path, setting, ex));
        }

        return false;
    }

    private static bool LooksBinary(byte[] bytes) => bytes.Length > 1 && bytes[0] == 0x30 && !bytes.AsSpan(0, Math.Min(bytes.Length, 64)).Contains((byte)'-');
}
