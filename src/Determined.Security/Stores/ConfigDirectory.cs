namespace Determined;

/// <summary>The rule behind <c>DeterminedConfigDirectory</c> (the SDK reaches it through InternalsVisibleTo).</summary>
internal static class ConfigDirectory
{
    public static string For(DeterminedEnvironment env)
    {
        if (env.Get("DET_DEBUG_CONFIG_PATH") is { } debug)
        {
            return Path.GetFullPath(debug);
        }

        if (OperatingSystem.IsWindows())
        {
            // Python's appdirs asks Windows for the local application data folder; %LOCALAPPDATA% names it, and without
            // it the system's answer is used, never a Unix-style ~/.config under the profile.
            return Path.Combine(env.Get("LOCALAPPDATA") ?? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "determined");
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
