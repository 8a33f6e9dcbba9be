namespace Determined;

/// <summary>
/// One or more settings are invalid (a missing file, a PEM that holds no certificate, a wrong password, a bad URL,
/// contradicting options). <see cref="Failures"/> lists every problem found, each naming the value, the cause and the fix.
/// </summary>
/// <remarks>
/// Thrown when settings are turned into a policy or a client outside dependency injection
/// (<c>TlsPolicy.Create</c>, <c>DeterminedClient.FromEnvironment</c>) and when a client is resolved from a service provider.
/// Options validated at host start (<c>ValidateOnStart</c>) report the same failures as the options framework's
/// <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>.
/// </remarks>
public sealed class DeterminedConfigurationException : DeterminedException
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public DeterminedConfigurationException()
        : this("The Determined settings are invalid.")
    {
    }

    /// <summary>Initializes a new instance with one failure.</summary>
    /// <param name="message">The problem: the value, the cause and the fix.</param>
    public DeterminedConfigurationException(string message)
        : this(message, null)
    {
    }

    /// <summary>Initializes a new instance with one failure and its cause.</summary>
    /// <param name="message">The problem: the value, the cause and the fix.</param>
    /// <param name="innerException">The cause.</param>
    public DeterminedConfigurationException(string message, Exception? innerException)
        : base(message, innerException)
    {
        Failures = [message];
    }

    /// <summary>Initializes a new instance with every problem found.</summary>
    /// <param name="failures">The problems, each naming the value, the cause and the fix.</param>
    public DeterminedConfigurationException(IEnumerable<string> failures)
        : this(failures is null ? [] : failures.ToList())
    {
    }

    private DeterminedConfigurationException(List<string> failures)
        : base(string.Join(Environment.NewLine, failures))
    {
        Failures = failures;
    }

    /// <summary>Gets every problem found, each naming the value, the cause and the fix.</summary>
    public IReadOnlyList<string> Failures { get; }
}
