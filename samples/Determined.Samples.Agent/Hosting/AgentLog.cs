namespace Determined.Samples.Agent.Hosting;

/// <summary>The agent program's own log lines (the agent's are in <see cref="AgentRunner"/> and <see cref="TaskLauncher"/>).</summary>
internal static partial class AgentLog
{
    /// <summary>A configuration problem that does not stop the agent (e.g. no default configuration file).</summary>
    [LoggerMessage(Level = LogLevel.Warning, Message = "Configuration: {Warning}")]
    public static partial void ConfigurationWarning(ILogger logger, string warning);
}
