using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// Loads trusted certificates (<see cref="TlsOptions.MasterCertificateFile"/>, inline PEM, <see cref="TrustFile"/>): PEM
/// bundles, a PKCS#12 truststore without private keys, or a directory of <c>.pem</c>/<c>.crt</c> files, reporting each
/// problem with the path and the fix.
/// </summary>
internal static class TrustMaterialFiles
{
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

        if (!CertificateFormats.TryReadText(path, setting, errors, out var text, out var bytes))
        {
            return result;
        }

        if (CertificateFormats.IsJavaKeyStore(bytes, path, setting, errors))
        {
            return result;
        }

        if (CertificateFormats.IsPkcs12(bytes))
        {
            var all = CertificateFormats.LoadPkcs12(bytes, path, setting, password, errors);
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

        return LoadTrustPem(text, path, setting, errors, CertificateFormats.LooksBinary(bytes) ? Messages.DerHint(path) : null);
    }

    /// <summary>Reads trusted certificates from PEM text.</summary>
    public static X509Certificate2Collection LoadTrustPem(string pem, string source, string setting, List<string> errors, string? hint = null)
    {
        var result = new X509Certificate2Collection();
        var hasKey = false;
        var index = 0;
        foreach (var (label, der) in CertificateFormats.EnumeratePem(pem))
        {
            if (CertificateFormats.PrivateKeyLabels.Contains(label, StringComparer.Ordinal))
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

    internal static X509Certificate2Collection LoadCertificatesOnly(string text)
    {
        var result = new X509Certificate2Collection();
        foreach (var (label, der) in CertificateFormats.EnumeratePem(text))
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
}
