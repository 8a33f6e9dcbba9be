using System.Globalization;

namespace Determined.Testing;

/// <summary>
/// A directory laid out as kubelet's atomic writer lays out a Secret or ConfigMap volume: the files live in a timestamped
/// directory <c>..&lt;timestamp&gt;</c>, <c>..data</c> links to it, and each visible name links through <c>..data</c>
/// (<c>tls.crt -> ..data/tls.crt</c>). An update writes a new timestamped directory, points a new link at it, renames that
/// link over <c>..data</c> (one atomic rename(2)) and deletes the old directory: the visible links themselves never change.
/// </summary>
public sealed class KubernetesVolume
{
    private int _version;

    public KubernetesVolume(string directory, IReadOnlyDictionary<string, string> files)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        var version = WriteVersion(files);
        System.IO.Directory.CreateSymbolicLink(System.IO.Path.Combine(directory, "..data"), version);
        foreach (var name in files.Keys)
        {
            File.CreateSymbolicLink(System.IO.Path.Combine(directory, name), "..data/" + name);
        }
    }

    public string Directory { get; }

    public string Path(string name) => System.IO.Path.Combine(Directory, name);

    /// <summary>Swaps in new contents for the same names, as kubelet does when the Secret changes.</summary>
    public async Task UpdateAsync(IReadOnlyDictionary<string, string> files)
    {
        var old = System.IO.Path.Combine(Directory, new FileInfo(Path("..data")).LinkTarget!);
        var version = WriteVersion(files);
        System.IO.Directory.CreateSymbolicLink(Path("..data_tmp"), version);
        var mv = await ChildProcess.RunAsync("mv", ["-T", Path("..data_tmp"), Path("..data")]); // rename(2): atomic
        if (mv.ExitCode != 0)
        {
            throw new InvalidOperationException("mv -T failed: " + mv.Output);
        }

        System.IO.Directory.Delete(old, recursive: true);
        foreach (var name in files.Keys)
        {
            if (new FileInfo(Path(name)).LinkTarget != "..data/" + name)
            {
                throw new InvalidOperationException($"the visible link {name} changed; kubelet never changes it");
            }
        }
    }

    private string WriteVersion(IReadOnlyDictionary<string, string> files)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"..2026_12_07_00_00_{++_version:00}.{_version:000000000}");
        var dir = Path(name);
        System.IO.Directory.CreateDirectory(dir);
        foreach (var (file, contents) in files)
        {
            File.WriteAllText(System.IO.Path.Combine(dir, file), contents);
        }

        return name;
    }
}
