using System.Runtime.InteropServices;

namespace Determined.Samples.Common.Hosting;

/// <summary>
/// Stops a long-running sample (master, agent) on SIGTERM and SIGQUIT as well as Ctrl+C: containers, systemd and
/// process supervisors stop programs with SIGTERM, and a master that ignores it is killed hard after the grace period.
/// </summary>
public sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _stopping;
    private readonly PosixSignalRegistration[] _registrations;

    /// <summary>Links <paramref name="cancellationToken"/> (System.CommandLine's Ctrl+C token) with the termination signals.</summary>
    /// <param name="cancellationToken">Cancelled on Ctrl+C by the command-line host.</param>
    public ShutdownSignals(CancellationToken cancellationToken)
    {
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, Stop),
        ];
    }

    /// <summary>Gets a token cancelled when the program is asked to stop.</summary>
    public CancellationToken Token => _stopping.Token;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _stopping.Dispose();
    }

    private void Stop(PosixSignalContext context)
    {
        // Handled: the program shuts down in order (connections closed, files flushed) and exits with its own code.
        context.Cancel = true;
        try
        {
            _stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // A signal that arrives while the program is already finishing.
        }
    }
}
