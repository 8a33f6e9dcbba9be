using System.Globalization;
using Determined.Security;
using Determined.Testing;

// Usage:
//   store-write <dir> <prefix> <count> <pem-file>   writes <count> entries "https://<prefix>-<i>:8443", printing "wrote <i>" after each
//   tls-policy <master-cert-file>                   validates TlsOptions.MasterCertificateFile; prints each error, exit 1 on errors
//   stores-write <prefix> <count> <pem-file>        writes <count> entries to certs.json and auth.json in the default
//                                                   configuration directory (%LOCALAPPDATA%\determined on Windows)
//   windows-fixture <dir>                           starts WindowsLegFixture in <dir>, prints "ready", stops when stdin closes
return args switch
{
    ["stores-write", var prefix, var countText, var pemFile] => StoresWrite(prefix, int.Parse(countText, CultureInfo.InvariantCulture), pemFile),
    ["windows-fixture", var dir] => await WindowsFixture(dir),
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

static int StoresWrite(string prefix, int count, string pemFile)
{
    var directory = DeterminedConfigDirectory.GetPath();
    var certificates = new MasterCertificateStore(directory);
    var tokens = new Determined.Sdk.DeterminedTokenStore(directory);
    var pem = File.ReadAllText(pemFile);
    for (var i = 0; i < count; i++)
    {
        certificates.Set($"https://{prefix}-{i}:8443", pem);
        tokens.SetToken($"https://{prefix}-{i}:8443", prefix, $"token-{prefix}-{i}");
        Console.Out.WriteLine($"wrote {i}");
        Console.Out.Flush();
    }

    return 0;
}

static async Task<int> WindowsFixture(string dir)
{
    await using var fixture = await WindowsLegFixture.StartAsync(Path.GetFullPath(dir));
    Console.Out.WriteLine($"ready {fixture.Master} {fixture.MutualMaster}");
    Console.Out.Flush();
    await Console.In.ReadToEndAsync();
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Determined.TestHost store-write <dir> <prefix> <count> <pem-file> | tls-policy <master-cert-file> | stores-write <prefix> <count> <pem-file> | windows-fixture <dir>");
    return 2;
}
