namespace Determined;

/// <summary>
/// Reads small credential files (certificates, keys, passwords, tokens, stores) safely: only files that report a size
/// are opened (a FIFO, socket or device such as <c>/dev/zero</c> reports none and is refused before it can block or flood
/// the reader), and never more than a bound, even if the file grows while it is read.
/// </summary>
internal static class BoundedFile
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

        // Read to the end (the file may have been replaced by a larger one since it was measured), never past the bound.
        using var stream = new FileStream(info.FullName, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0 });
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
}

/// <summary>A file that is not a small regular file: refused without being read (or read past its bound).</summary>
internal sealed class UnsupportedFileException(string message) : IOException(message);
