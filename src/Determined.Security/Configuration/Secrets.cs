namespace Determined.Security;

/// <summary>Passwords of keys and truststores: from a file or an environment variable, never from configuration text.</summary>
internal static class Secrets
{
    /// <summary>Reads a password from a file (first line) or an environment variable (through <paramref name="environment"/>, the injectable reader); never from configuration text.</summary>
    public static string? Read(string? file, string? variable, string what, DeterminedEnvironment environment, List<string> errors)
    {
        if (!string.IsNullOrWhiteSpace(file) && !string.IsNullOrWhiteSpace(variable))
        {
            errors.Add(Messages.PasswordFileAndVariable(what));
            return null;
        }

        if (!string.IsNullOrWhiteSpace(file))
        {
            try
            {
                // The first line, from at most 64 KiB of a regular file (never a FIFO or a device).
                var text = BoundedFile.ReadAllText(file, BoundedFile.MaxSecretBytes);
                var end = text.AsSpan().IndexOfAny('\r', '\n');
                return end < 0 ? text : text[..end];
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                errors.Add(Messages.FileMissing(file, what + " file"));
            }
            catch (UnsupportedFileException ex)
            {
                errors.Add(Messages.FileUnsupported(what + " file", ex));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add(Messages.FileUnreadable(file, what + " file", ex));
            }

            return null;
        }

        if (!string.IsNullOrWhiteSpace(variable))
        {
            var value = environment.Get(variable);
            if (value is null)
            {
                errors.Add(Messages.PasswordVariableUnset(variable, what));
            }

            return value;
        }

        return null;
    }
}
