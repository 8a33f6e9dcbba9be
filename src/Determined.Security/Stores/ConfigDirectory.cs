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
