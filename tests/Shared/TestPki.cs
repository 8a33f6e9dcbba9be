using System.Security.Cryptography.X509Certificates;

namespace Determined.Testing;

/// <summary>
/// A root → intermediate → leaf PKI in a temporary directory, made per test class: <see cref="Leaf"/> for localhost and
/// 127.0.0.1, <see cref="CiLeaf"/> for <see cref="CiName"/> only (the name a task pins). The root and the CI chain are
/// written as files the first time they are asked for, so the directory holds only what a test used.
/// </summary>
public sealed class TestPki : IDisposable
{
    /// <summary>The only name in <see cref="CiLeaf"/> (a DNS SAN, no IP).</summary>
    public const string CiName = "determined-master-ci";

    private readonly Lazy<string> _rootFile;
    private readonly Lazy<string> _chainFile;

    public TestPki()
    {
        Root = TestCertificates.CreateRoot();
        Intermediate = TestCertificates.CreateIntermediate(Root);
        Leaf = TestCertificates.CreateLeaf(Intermediate);
        CiLeaf = TestCertificates.CreateLeaf(Intermediate, new() { Dns = [CiName], Ips = [] });
        Directory = System.IO.Directory.CreateTempSubdirectory("det-tests-").FullName;
        _rootFile = new(() => Write("ca.crt", TestCertificates.Pem(Root)));
        _chainFile = new(() => Write("master.crt", TestCertificates.Pem(CiLeaf, Intermediate, Root)));
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    /// <summary>Gets the default leaf (<see cref="TestCertificates.LeafSpec"/>: localhost and 127.0.0.1, serverAuth).</summary>
    public X509Certificate2 Leaf { get; }

    /// <summary>Gets a leaf for <see cref="CiName"/> only.</summary>
    public X509Certificate2 CiLeaf { get; }

    public string Directory { get; }

    /// <summary>Gets ca.crt: the root as PEM.</summary>
    public string RootFile => _rootFile.Value;

    /// <summary>Gets master.crt: <see cref="CiLeaf"/>, the intermediate and the root as PEM.</summary>
    public string ChainFile => _chainFile.Value;

    /// <summary>Gets a config directory (DET_DEBUG_CONFIG_PATH) inside <see cref="Directory"/>, not created.</summary>
    public string ConfigDir => Path.Combine(Directory, "config");

    /// <summary>An environment reader over <paramref name="env"/>: a missing name reads as null.</summary>
    public static Func<string, string?> Reader(IDictionary<string, string?> env) => name => env.TryGetValue(name, out var v) ? v : null;

    public string Write(string name, string contents)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, contents);
        return path;
    }

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
