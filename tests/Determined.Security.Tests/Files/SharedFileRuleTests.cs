using Determined.Testing;
namespace Determined.Security.Tests.Files;

/// <summary>
/// The shared file rules both packages use (Determined.Security owns them; the SDK reaches them through InternalsVisibleTo): bounded reads (a file too large, or one that reports no length, is
/// refused), the configuration directory, and Python's key order for stores that Determined's CLI also writes.
/// </summary>
public sealed class SharedFileRuleTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("det-shared-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void BoundedRead_FileLargerThanTheLimit_IsRefusedNamingBoth()
    {
        var path = Path.Combine(_directory, "big.pem");
        File.WriteAllBytes(path, new byte[2048]);

        var ex = Assert.Throws<UnsupportedFileException>(() => BoundedFile.ReadAllBytes(path, 1024));

        Assert.Equal($"'{path}' holds 2048 bytes, more than the 1024 such a file may hold", ex.Message);
    }

    [Trait("Windows", Wine.UnixFileKinds)]
    [Fact]
    public void BoundedRead_FileThatReportsNoLength_IsNeverOpened()
    {
        // /proc files (and FIFOs, devices) report a length of 0 whatever they hold: refused before any read.
        var ex = Assert.Throws<UnsupportedFileException>(() => BoundedFile.ReadAllBytes("/proc/self/status", 1 << 16));

        Assert.StartsWith("'/proc/self/status' is empty, or not a regular file", ex.Message, StringComparison.Ordinal);
    }

    [Trait("Windows", Wine.XdgRule)]
    [Theory]
    [InlineData("/srv/config", "/srv/config/determined")]
    [InlineData("relative/config", null)] // not absolute: ignored, as the XDG specification says
    public void ConfigDirectory_XdgConfigHome_IsUsedOnlyWhenAbsolute(string xdg, string? expected)
    {
        var env = new DeterminedEnvironment(n => n switch { "XDG_CONFIG_HOME" => xdg, "HOME" => "/home/someone", _ => null });

        var directory = ConfigDirectory.For(env);

        Assert.Equal(expected ?? ConfigDirectory.For(new DeterminedEnvironment(n => n == "HOME" ? "/home/someone" : null)), directory);
    }

    [Fact]
    public void CodePointOrder_NullsFirst()
    {
        Assert.Equal(0, CodePointOrder.Instance.Compare(null, null));
        Assert.True(CodePointOrder.Instance.Compare(null, "a") < 0);
        Assert.True(CodePointOrder.Instance.Compare("a", null) > 0);
    }
}
