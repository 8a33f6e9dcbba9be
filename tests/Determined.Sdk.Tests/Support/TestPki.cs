using System.Net;
using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Sdk.Tests;

public sealed class TestPki : IDisposable
{
    public TestPki()
    {
        Root = TestCertificates.CreateRoot();
        Intermediate = TestCertificates.CreateIntermediate(Root);
        CiLeaf = TestCertificates.CreateLeaf(Intermediate, new() { Dns = ["determined-master-ci"], Ips = [] });
        Directory = System.IO.Directory.CreateTempSubdirectory("det-sdk-tests-").FullName;
        RootFile = Write("ca.crt", TestCertificates.Pem(Root));
        ChainFile = Write("master.crt", TestCertificates.Pem(CiLeaf, Intermediate, Root));
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public X509Certificate2 CiLeaf { get; }

    public string Directory { get; }

    public string RootFile { get; }

    public string ChainFile { get; }

    public string ConfigDir => Path.Combine(Directory, "config");

    public string Write(string name, string contents)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, contents);
        return path;
    }

    /// <summary>A task's environment: what the agent injects.</summary>
    public Dictionary<string, string?> TaskEnvironment(Uri master, string? certName = "determined-master-ci") => new()
    {
        ["DET_MASTER"] = master.GetLeftPart(UriPartial.Authority),
        ["DET_MASTER_HOST"] = master.Host,
        ["DET_MASTER_ADDR"] = master.Host,
        ["DET_MASTER_PORT"] = master.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["DET_USE_TLS"] = "true",
        ["DET_MASTER_CERT_FILE"] = ChainFile,
        ["DET_MASTER_CERT_NAME"] = certName,
        ["DET_SESSION_TOKEN"] = FakeMaster.AllocationToken,
        ["DET_TASK_ID"] = "task-1",
        ["DET_ALLOCATION_ID"] = "task-1.alloc-1",
        ["DET_TASK_TYPE"] = "COMMAND",
        ["DET_SLOT_IDS"] = "[0,1]",
        ["DET_USER"] = "task-owner",
        ["DET_DEBUG_CONFIG_PATH"] = ConfigDir,
    };

    public static Func<string, string?> Reader(IDictionary<string, string?> env) => name => env.TryGetValue(name, out var v) ? v : null;

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
