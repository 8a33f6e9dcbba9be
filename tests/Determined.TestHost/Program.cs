using System.Globalization;
using Determined.Security;

// Usage:
//   store-write <dir> <prefix> <count> <pem-file>   writes <count> entries "https://<prefix>-<i>:8443", printing "wrote <i>" after each
//   tls-policy <master-cert-file>                   validates TlsOptions.MasterCertificateFile; prints each error, exit 1 on errors
return args switch
{
    ["store-write", var dir, var prefix, var countText, var pemFile] => StoreWrite(dir, prefix, int.Parse(countText, CultureInfo.InvariantCulture), pemFile),
    ["tls-policy", var certFile] => ValidatePolicy(certFile),
    _ => Usage(),
};

static int ValidatePolicy(string certFile)
{
    try
    {
        _ = TlsPolicy.Create(new TlsOptions { MasterCertificateFile = certFile });
        Console.Out.WriteLine("valid");
        return 0;
    }
    catch (Determined.DeterminedConfigurationException ex)
    {
        foreach (var failure in ex.Failures)
        {
            Console.Out.WriteLine(failure);
        }

        return 1;
    }
}

static int StoreWrite(string dir, string prefix, int count, string pemFile)
{
    var store = new MasterCertificateStore(dir);
    var pem = File.ReadAllText(pemFile);
    for (var i = 0; i < count; i++)
    {
        store.Set($"https://{prefix}-{i}:8443", pem);
        Console.Out.WriteLine($"wrote {i}");
        Console.Out.Flush();
    }

    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Determined.TestHost store-write <dir> <prefix> <count> <pem-file> | tls-policy <master-cert-file>");
    return 2;
}
