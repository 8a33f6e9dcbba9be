namespace Determined;

/// <summary>
/// A store on disk (<c>certs.json</c>, <c>auth.json</c>, their lock files, the configuration directory) could not be read,
/// locked or written. The message names the file, the cause and the fix; nothing stored before is lost (stores are
/// replaced atomically, and a corrupt one is moved aside, never overwritten).
/// </summary>
public sealed class DeterminedStoreException : DeterminedException
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public DeterminedStoreException()
        : base("A Determined store could not be read or written.")
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">What failed, the file and the fix.</param>
    public DeterminedStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and its cause.</summary>
    /// <param name="message">What failed, the file and the fix.</param>
    /// <param name="innerException">The cause.</param>
    public DeterminedStoreException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance with a message, the file it is about and its cause.</summary>
    /// <param name="message">What failed, the file and the fix.</param>
    /// <param name="path">The store, lock file or directory concerned.</param>
    /// <param name="innerException">The cause, if any.</param>
    public DeterminedStoreException(string message, string? path, Exception? innerException = null)
        : base(message, innerException)
    {
        Path = path;
    }

    /// <summary>Gets the store, lock file or directory concerned, or <see langword="null"/> when not known.</summary>
    public string? Path { get; }
}
