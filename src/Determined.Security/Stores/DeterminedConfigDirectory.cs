namespace Determined.Security;

/// <summary>
/// Where Determined's CLI keeps <c>certs.json</c> and <c>auth.json</c>: <c>DET_DEBUG_CONFIG_PATH</c> when set; else
/// <c>$XDG_CONFIG_HOME/determined</c> (Linux), <c>~/Library/Application Support/determined</c> (macOS),
/// <c>%LOCALAPPDATA%\determined</c> (Windows); else <c>~/.config/determined</c>.
/// </summary>
public static class DeterminedConfigDirectory
{
    /// <summary>Returns the configuration directory for this process (it may not exist yet).</summary>
    /// <returns>An absolute path.</returns>
    public static string GetPath() => GetPath(null);

    internal static string GetPath(Func<string, string?>? getEnvironmentVariable) =>
        ConfigDirectory.For(getEnvironmentVariable is null ? DeterminedEnvironment.Process : new DeterminedEnvironment(getEnvironmentVariable));
}
