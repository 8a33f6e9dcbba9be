using System.Globalization;
using Determined.Security;

// Usage:
//   store-write <dir> <prefix> <count> <pem-file>   writes <count> entries "https://<prefix>-<i>:8443", printing "wrote <i>" after each
return args switch
{
    ["store-write", var dir, var prefix, var countText, var pemFile] => StoreWrite(dir, prefix, int.Parse(countText, CultureInfo.InvariantCulture), pemFile),
    _ => Usage(),
};

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
    Console.Error.WriteLine("usage: Determined.TestHost store-write <dir> <prefix> <count> <pem-file>");
    return 2;
}
