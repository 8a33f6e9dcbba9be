using System.Text;

namespace Determined;

/// <summary>Writes files so that a reader never sees a half-written one: a temporary file in the same directory, flushed, then renamed over.</summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string contents, bool privateFile, string? temporaryPath = null)
    {
        var full = Path.GetFullPath(path);
        var temp = temporaryPath ?? full + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        // A stale temp file (or a link planted there) is removed, and the new one is created exclusively with its final mode,
        // so secrets are never written into a file that others can read.
        TryDelete(temp);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = privateFile
                ? UnixFileMode.UserRead | UnixFileMode.UserWrite
                : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        }

        try
        {
            using (var stream = new FileStream(temp, options))
            {
                if (!OperatingSystem.IsWindows())
                {
                    // UnixCreateMode is filtered by the umask; set the mode the file must have before any byte is written.
                    File.SetUnixFileMode(stream.SafeFileHandle, options.UnixCreateMode!.Value);
                }

                var bytes = Encoding.UTF8.GetBytes(contents);
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            MoveOver(temp, full);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Renames the temporary file over the target. On Windows a reader that opened the target without delete sharing (Python's
    /// CLI, another SDK process) makes the rename fail until it closes it: retried for up to 2 s (the caller holds the store's
    /// lock, so only readers can be in the way), then the error is the caller's to report.
    /// </summary>
    private static void MoveOver(string temp, string full)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                File.Move(temp, full, overwrite: true);
                return;
            }
            catch (Exception ex) when (OperatingSystem.IsWindows() && attempt < 40 && ex is IOException or UnauthorizedAccessException)
            {
                Thread.Sleep(50);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
