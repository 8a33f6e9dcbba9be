using System.Security.Cryptography.X509Certificates;
using Determined.Testing;

namespace Determined.Security.Tests;

/// <summary>A root → intermediate → leaf PKI made per test class.</summary>
public sealed class Pki : IDisposable
{
    public Pki()
    {
        Root = TestCertificates.CreateRoot();
        Intermediate = TestCertificates.CreateIntermediate(Root);
        Leaf = TestCertificates.CreateLeaf(Intermediate);
        Directory = System.IO.Directory.CreateTempSubdirectory("det-sec-tests-").FullName;
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public X509Certificate2 Leaf { get; }

    public string Directory { get; }

    public string Write(string name, string contents)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, contents);
        return path;
    }

    public string RootFile => Write("root.pem", TestCertificates.Pem(Root));

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
