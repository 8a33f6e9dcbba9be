namespace Determined.Samples.Agent.Hosting;

/// <summary>
/// Runs the agent (<see cref="AgentRunner"/>) while the host runs, and stops the host when the agent stops (it gave up,
/// was refused, or was told to shut down). The host stopping (SIGTERM, SIGQUIT, Ctrl+C) stops the agent and its tasks.
/// </summary>
/// <param name="runner">The agent.</param>
/// <param name="lifetime">Stopped when the agent stops.</param>
public sealed class AgentService(AgentRunner runner, IHostApplicationLifetime lifetime) : BackgroundService
{
    /// <summary>Gets the process exit code: the agent's, or 1 when it did not finish.</summary>
    public int ExitCode { get; private set; } = 1;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            ExitCode = await runner.RunAsync(stoppingToken);
        }
        finally
        {
            lifetime.StopApplication();
        }
    }
}
