namespace Determined.Security;

/// <summary>
/// The only place this package reads environment variables, through an injectable reader so tests and hosts
/// can supply their own.
/// </summary>
internal sealed class SecurityEnvironment
{
    /// <summary>Our own variable (not an upstream name) with the expected fingerprint for non-interactive trust.</summary>
    public const string TrustFingerprintVariable = "DETERMINED_TRUST_FINGERPRINT";

    private readonly Func<string, string?> _read;

    public SecurityEnvironment(Func<string, string?>? read = null)
    {
#pragma warning disable RS0030 // The one sanctioned read of the process environment.
        _read = read ?? Environment.GetEnvironmentVariable;
#pragma warning restore RS0030
    }

    public static SecurityEnvironment Process { get; } = new();

    public string? Get(string name) => _read(name) is { Length: > 0 } value ? value : null;

    public string HomeDirectory =>
        Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
}
