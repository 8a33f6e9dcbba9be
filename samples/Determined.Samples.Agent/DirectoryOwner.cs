using System.Runtime.InteropServices;

namespace Determined.Samples.Agent;

/// <summary>
/// The owner (uid) of a directory and the process's effective uid, through Linux's statx(2) and geteuid(2): .NET has no
/// API for a file's owner. statx's struct has the same layout on every architecture (stx_uid at byte 20).
/// </summary>
internal static partial class DirectoryOwner
{
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;

    /// <summary>The owner's uid, or <see langword="null"/> when it cannot be read (not Linux, no statx).</summary>
    public static uint? Of(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            var buffer = new byte[256];
            return Statx(AtFdCwd, path, 0, StatxBasicStats, buffer) == 0 ? BitConverter.ToUInt32(buffer, 20) : null;
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    public static uint? EffectiveUser()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return GetEffectiveUserId();
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
