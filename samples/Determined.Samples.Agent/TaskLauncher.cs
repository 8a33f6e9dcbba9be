using System.Diagnostics;
using System.Globalization;
using Determined.Samples.Agent.Configuration;
using Determined.Samples.Common.Protocol;

namespace Determined.Samples.Agent;

/// <summary>
/// Runs a task as a child process (standing in for a container) with exactly the environment a Determined container
/// gets, the master's chain written to the cert path (mode 0644), its output streamed as logs, and
/// its state changes and exit code reported.
/// </summary>
public sealed partial class TaskLauncher(AgentConfig config, Func<AgentMessage, Task> send, ILogger logger)
{
    private readonly Dictionary<string, Process> _running = new(StringComparer.Ordinal);

    /// <summary>The most tasks this agent runs at once; a StartContainer beyond it is answered as a failed start.</summary>
    public const int MaxRunningTasks = 64;
    private readonly Lock _gate = new();

    /// <summary>The environment variables of the agent process that a task inherits (to find and run programs), nothing else.</summary>
    private static readonly string[] s_inherited = ["PATH", "HOME", "TMPDIR", "LANG", "DOTNET_ROOT", "DOTNET_CLI_HOME", "DOTNET_NOLOGO", "DOTNET_CLI_TELEMETRY_OPTOUT", "DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "NUGET_PACKAGES"];

    public IReadOnlyDictionary<string, string> BuildEnvironment(StartContainer start)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in start.Spec.RunSpec.ContainerConfig.Env ?? [])
        {
            // Docker's "KEY=VALUE"; an entry without '=' is, as for Docker, a variable taken from the host: not passed.
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                env[entry[..eq]] = entry[(eq + 1)..];
            }
        }

        var host = config.ContainerMasterHost ?? config.MasterHost;
        var port = config.ContainerMasterPort ?? config.EffectivePort;
        var hostForUrl = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
        env["DET_MASTER"] = $"{(config.TlsEnabled ? "https" : "http")}://{hostForUrl}:{port.ToString(CultureInfo.InvariantCulture)}";
        env["DET_MASTER_HOST"] = host;
        env["DET_MASTER_ADDR"] = host;
        env["DET_MASTER_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        env["DET_USE_TLS"] = config.TlsEnabled ? "true" : "false";
        env["DET_AGENT_ID"] = config.AgentId;
        env["DET_CONTAINER_ID"] = start.Container.ID;
        env["DET_SLOT_IDS"] = "[0]";
        if (config.TlsEnabled)
        {
            env["DET_MASTER_CERT_FILE"] = config.CertPath;
            if (config.SkipVerify)
            {
                env["DET_MASTER_CERT_FILE"] = "noverify";
            }

            if (config.MasterCertName is { } name)
            {
                env["DET_MASTER_CERT_NAME"] = name;
            }
        }

        return env;
    }

    /// <summary>
    /// Runs upstream's <c>cproto.Spec</c> as a local process. Used of RunSpec.ContainerConfig: Entrypoint + Cmd (argv),
    /// Env ("KEY=VALUE"), WorkingDir (when set). Used of RunSpec.Archives: the file at the container's certificate path
    /// (<see cref="ContainerPaths.MasterCertificate"/>), written to this agent's cert path. Ignored, as there is no
    /// container: PullSpec, Image, User, Hostname, Labels, Volumes and the rest of ContainerConfig, HostConfig (mounts,
    /// resources, network mode), NetworkingConfig, the other archive files, DeviceType, Registry and TaskType.
    /// </summary>
    public async Task StartAsync(StartContainer start, CancellationToken cancellationToken)
    {
        var containerId = start.Container.ID;
        var containerConfig = start.Spec.RunSpec.ContainerConfig;
        string[] argv = [.. containerConfig.Entrypoint ?? [], .. containerConfig.Cmd ?? []];
        var taskId = BuildEnvironment(start).GetValueOrDefault("DET_TASK_ID", containerId);
        try
        {
            if (argv.Length == 0)
            {
                throw new InvalidOperationException("the container spec has no command (Cmd)");
            }

            if (config.TlsEnabled && !config.SkipVerify)
            {
                WriteMasterCertificate(MasterCertificateOf(start.Spec.RunSpec));
            }

            var psi = new ProcessStartInfo(argv[0])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in argv.Skip(1))
            {
                psi.ArgumentList.Add(arg);
            }

            if (!string.IsNullOrEmpty(containerConfig.WorkingDir))
            {
                psi.WorkingDirectory = containerConfig.WorkingDir;
            }

            psi.Environment.Clear();
#pragma warning disable RS0030 // The agent passes a fixed set of its own variables to tasks.
            foreach (var name in s_inherited)
            {
                if (Environment.GetEnvironmentVariable(name) is { } value)
                {
                    psi.Environment[name] = value;
                }
            }
#pragma warning restore RS0030

            foreach (var (key, value) in BuildEnvironment(start))
            {
                psi.Environment[key] = value;
            }

            await send(State(containerId, ContainerStates.Starting, null));
            Process process;
            lock (_gate)
            {
                // A master (or whoever speaks for it) cannot make this machine run unbounded processes.
                if (_running.Count >= MaxRunningTasks)
                {
                    throw new InvalidOperationException($"this agent already runs its limit of {MaxRunningTasks} tasks; the container was not started");
                }

                process = Process.Start(psi) ?? throw new InvalidOperationException("the task process did not start");
                _running[containerId] = process;
            }

            Started(logger, taskId, containerId, process.Id, string.Join(' ', argv));
            await send(State(containerId, ContainerStates.Running, null));
            var stdout = Pump(process.StandardOutput, containerId, RunMessage.Stdout);
            var stderr = Pump(process.StandardError, containerId, RunMessage.Stderr);
            await process.WaitForExitAsync(CancellationToken.None);
            await Task.WhenAll(stdout, stderr);
            lock (_gate)
            {
                _running.Remove(containerId);
            }

            Exited(logger, taskId, process.ExitCode);
            await send(State(containerId, ContainerStates.Terminated, ContainerStopped.Exited(process.ExitCode)));
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            CouldNotStart(logger, taskId, ex.Message);
            await send(new AgentMessage { ContainerLog = new ContainerLog { ContainerID = containerId, Timestamp = DateTimeOffset.UtcNow, AuxMessage = "the agent could not start the task: " + ex.Message, AgentID = config.AgentId } });
            await send(State(containerId, ContainerStates.Terminated, new ContainerStopped
            {
                Failure = new ContainerFailure { FailureType = FailureTypes.AgentError, ErrMsg = ex.Message, ExitCode = 127 },
            }));
        }
    }

    /// <summary>Kills every task this launcher started that still runs (the agent is stopping).</summary>
    public void KillAll()
    {
        lock (_gate)
        {
            foreach (var (id, process) in _running)
            {
                StoppingWithTheAgent(logger, id);
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // It exited meanwhile.
                }
            }
        }
    }

    public void Kill(string containerId)
    {
        lock (_gate)
        {
            if (_running.TryGetValue(containerId, out var process))
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>The content of the archive file that lands at the container's certificate path; empty when there is none.</summary>
    private string MasterCertificateOf(RunSpec runSpec)
    {
        var pem = string.Empty;
        foreach (var archive in runSpec.Archives ?? [])
        {
            foreach (var item in archive.Archive ?? [])
            {
                var target = Path.Combine(string.IsNullOrEmpty(archive.Path) ? "/" : archive.Path, item.Path);
                if (item.Type == ArchiveItem.TypeRegular && string.Equals(target, ContainerPaths.MasterCertificate, StringComparison.Ordinal))
                {
                    pem = System.Text.Encoding.UTF8.GetString(item.Content);
                }
                else
                {
                    NotCopyingArchiveFile(logger, target);
                }
            }
        }

        return pem;
    }

    private void WriteMasterCertificate(string pem)
    {
        if (string.IsNullOrWhiteSpace(pem))
        {
            throw new InvalidOperationException("the master sent no certificate chain for the task");
        }

        var target = Path.GetFullPath(config.CertPath);
        var directory = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows())
        {
            // In a directory others may write to without the sticky bit, anyone can swap the file or plant links: refuse.
            var directoryMode = File.GetUnixFileMode(directory);
            if ((directoryMode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0 && (directoryMode & UnixFileMode.StickyBit) == 0)
            {
                throw new InvalidOperationException($"the directory '{directory}' of the task certificate path (--cert-path) is writable by other users and has no sticky bit; choose a directory only the agent's user can write to (the default is {AgentConfig.DefaultCertPath})");
            }

            if (new DirectoryInfo(directory).LinkTarget is not null)
            {
                throw new InvalidOperationException($"the directory '{directory}' of the task certificate path (--cert-path) is a symbolic link; give the real directory");
            }

            // A directory owned by someone else (other than root) can be changed under the agent by its owner; an owner
            // that cannot be read on Linux is refused too.
            var owner = DirectoryOwner.Of(directory);
            if (OperatingSystem.IsLinux() && owner is null)
            {
                throw new InvalidOperationException($"the owner of the directory '{directory}' of the task certificate path (--cert-path) cannot be read; choose a directory the agent's user owns");
            }

            if (owner is { } uid && DirectoryOwner.EffectiveUser() is { } self && uid != self && uid != 0)
            {
                throw new InvalidOperationException($"the directory '{directory}' of the task certificate path (--cert-path) belongs to user id {uid}, not to the agent's user ({self}) or root; choose a directory the agent's user owns (the default is {AgentConfig.DefaultCertPath})");
            }
        }

        // A random temporary name created exclusively (O_CREAT|O_EXCL: a planted file or link at that name fails the call
        // instead of being followed), with its final mode set before any byte is written, then renamed over the target.
        var temp = Path.Combine(directory, "." + Path.GetFileName(target) + "." + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)) + ".tmp");
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = mode }))
            {
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(stream.SafeFileHandle, mode);
                }

                stream.Write(System.Text.Encoding.UTF8.GetBytes(pem));
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }

            throw;
        }
    }

    private async Task Pump(StreamReader reader, string containerId, int stdType)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            await send(new AgentMessage
            {
                ContainerLog = new ContainerLog
                {
                    ContainerID = containerId,
                    Timestamp = DateTimeOffset.UtcNow,
                    RunMessage = new RunMessage { Value = line, StdType = stdType },
                    AgentID = config.AgentId,
                },
            });
        }
    }

    private static AgentMessage State(string containerId, string state, ContainerStopped? stopped) => new()
    {
        ContainerStateChanged = new ContainerStateChanged { Container = new ContainerInfo { ID = containerId, State = state }, ContainerStopped = stopped },
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Started task {TaskId} (container {ContainerId}, pid {Pid}): {Command}")]
    private static partial void Started(ILogger logger, string taskId, string containerId, int pid, string command);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} exited with code {ExitCode}")]
    private static partial void Exited(ILogger logger, string taskId, int exitCode);

    [LoggerMessage(Level = LogLevel.Error, Message = "Task {TaskId} could not be started: {Error}")]
    private static partial void CouldNotStart(ILogger logger, string taskId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stopping task container {ContainerId}: the agent is stopping")]
    private static partial void StoppingWithTheAgent(ILogger logger, string containerId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Not copying archive file {Path}: the sample agent runs no container")]
    private static partial void NotCopyingArchiveFile(ILogger logger, string path);
}
