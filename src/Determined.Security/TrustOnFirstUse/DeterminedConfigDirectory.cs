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

    /// <summary>Returns the configuration directory, reading variables through <paramref name="getEnvironmentVariable"/>.</summary>
    /// <param name="getEnvironmentVariable">Reads an environment variable; <see langword="null"/> for the process environment.</param>
    /// <returns>An absolute path.</returns>
    public static string GetPath(Func<string, string?>? getEnvironmentVariable)
    {
        var env = getEnvironmentVariable is null ? SecurityEnvironment.Process : new SecurityEnvironment(getEnvironmentVariable);
        if (env.Get("DET_DEBUG_CONFIG_PATH") is { } debug)
        {
            return Path.GetFullPath(debug);
        }

        if (OperatingSystem.IsWindows() && env.Get("LOCALAPPDATA") is { } local)
        {
            return Path.Combine(local, "determined");
        }

        if (OperatingSystem.IsMacOS())
        {
            return Path.Combine(env.HomeDirectory, "Library", "Application Support", "determined");
        }

        if (env.Get("XDG_CONFIG_HOME") is { } xdg && Path.IsPathRooted(xdg))
        {
            return Path.Combine(xdg, "determined");
        }

        return Path.Combine(env.HomeDirectory, ".config", "determined");
    }
}
