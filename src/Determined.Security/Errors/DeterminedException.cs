namespace Determined;

/// <summary>
/// The base type of every error the Determined SDK raises about talking to a master.
/// </summary>
/// <remarks>
/// Misuse of the API (a <see langword="null"/> argument, a disposed object) stays a CLR exception;
/// everything the environment or the master can cause derives from this type.
/// </remarks>
public class DeterminedException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public DeterminedException()
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">What failed, the value seen and the fix.</param>
    public DeterminedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and the exception that caused it.</summary>
    /// <param name="message">What failed, the value seen and the fix.</param>
    /// <param name="innerException">The cause.</param>
    public DeterminedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Gets a value indicating whether the same call may succeed if retried later
    /// (a restarting master, a dropped connection). Certificate errors are never transient.
    /// </summary>
    public virtual bool IsTransient => false;
}
