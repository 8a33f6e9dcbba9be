namespace Determined;

/// <summary>
/// Reads small credential files (certificates, keys, passwords, tokens, stores) safely: only files that report a size
/// are opened (a FIFO, socket or device such as <c>/dev/zero</c> reports none and is refused before it can block or flood
/// the reader), and never more than a bound, even if the file grows while it is read.
/// </summary>
internal static partial class BoundedFile
{
    /// <summary>The most a certificate, key, keystore or store file may hold.</summary>
    public const int MaxCredentialBytes = 4 * 1024 * 1024;

    /// <summary>The most a password or token file may hold.</summary>
    public const int MaxSecretBytes = 64 * 1024;

    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UnsupportedFileException">The file is empty or not a regular file, or larger than <paramref name="maxBytes"/>.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The process may not read it.</exception>
    public static byte[] ReadAllBytes(string path, int maxBytes)
    {
        var info = new FileInfo(path);
        if (info.Exists && info.LinkTarget is not null)
        {
            // Judge what a symbolic link (a mounted Kubernetes secret, or a planted link to a FIFO) finally points at: the
            // link's own size says nothing about the target.
            info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? throw new UnsupportedFileException($"'{path}' is a symbolic link to a directory, not a file");
        }

        if (!info.Exists)
        {
            throw Directory.Exists(info.FullName)
                ? new UnsupportedFileException($"'{path}' is a directory, not a file")
                : new FileNotFoundException($"'{path}' does not exist{(string.Equals(info.FullName, Path.GetFullPath(path), StringComparison.Ordinal) ? string.Empty : $" (it is a link to '{info.FullName}', which does not exist)")}", path);
        }

        if (info.Length == 0)
        {
            throw new UnsupportedFileException($"'{path}' is empty, or not a regular file (a FIFO, socket or device such as /dev/zero reports no size and is never opened)");
        }

        if (info.Length > maxBytes)
        {
            throw new UnsupportedFileException($"'{path}' holds {info.Length} bytes, more than the {maxBytes} such a file may hold");
        }

        // What was checked above may have been swapped since (a FIFO renamed over the file): the opened handle is judged
        // again, and on Linux and macOS the open itself never blocks (O_NONBLOCK), so a FIFO cannot hang the reader.
        // Read to the end (the file may have been replaced by a larger one since it was measured), never past the bound.
        using var stream = OpenRegularFile(info.FullName, path);
        var buffer = new byte[(int)Math.Min(info.Length + 1, maxBytes + 1L)];
        var total = 0;
        int n;
        while ((n = stream.Read(buffer, total, buffer.Length - total)) > 0)
        {
            total += n;
            if (total == buffer.Length)
            {
                if (total > maxBytes)
                {
                    break;
                }

                Array.Resize(ref buffer, (int)Math.Min(buffer.Length * 2L, maxBytes + 1L));
            }
        }

        if (total > maxBytes)
        {
            throw new UnsupportedFileException($"'{path}' grew past the {maxBytes} bytes such a file may hold while it was read");
        }

        return buffer.AsSpan(0, total).ToArray();
    }

    public static string ReadAllText(string path, int maxBytes) => System.Text.Encoding.UTF8.GetString(ReadAllBytes(path, maxBytes));

    /// <summary>
    /// Opens a file for reading without ever blocking in the open (a FIFO swapped in after the checks would block a plain
    /// open until a writer came), then checks what the handle is: only a file that reports a size is read.
    /// </summary>
    internal static FileStream OpenRegularFile(string fullPath, string shownPath)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return new FileStream(fullPath, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0 });
        }

        // O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY (the values differ between Linux and macOS).
        var flags = OperatingSystem.IsLinux() ? 0x800 | 0x80000 | 0x100 : 0x4 | 0x1000000 | 0x20000;
        var fd = NativeOpen(fullPath, flags);
        if (fd < 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw errno switch
            {
                2 => new FileNotFoundException($"'{shownPath}' does not exist (it was removed while it was read)", shownPath),
                13 => new UnauthorizedAccessException($"Access to the path '{shownPath}' is denied."),
                _ => new IOException($"'{shownPath}' cannot be opened (errno {errno})"),
            };
        }

        var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        long length;
        try
        {
            length = RandomAccess.GetLength(handle);
        }
        catch (Exception ex) when (ex is NotSupportedException or IOException)
        {
            length = 0; // a pipe or socket: no size
        }

        if (length == 0)
        {
            handle.Dispose();
            throw new UnsupportedFileException($"'{shownPath}' is empty, or not a regular file (a FIFO, socket or device such as /dev/zero reports no size and is never read)");
        }

        return new FileStream(handle, FileAccess.Read, bufferSize: 0);
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int NativeOpen(string path, int flags);
}

/// <summary>A file that is not a small regular file: refused without being read (or read past its bound).</summary>
internal sealed class UnsupportedFileException(string message) : IOException(message);
