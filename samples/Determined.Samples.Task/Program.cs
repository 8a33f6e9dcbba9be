using Determined;
using Determined.Sdk;
using Determined.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

// A training task. It is started by an agent inside a "container" whose environment holds DET_MASTER,
// DET_MASTER_CERT_FILE, DET_MASTER_CERT_NAME, DET_SESSION_TOKEN, DET_TASK_ID, ... and nothing else is configured.
try
{
    var task = DeterminedTaskInfo.FromEnvironment(); // fails loudly, with the fix, outside a Determined task

    #region AddDeterminedClient
    var builder = Host.CreateApplicationBuilder(args);
    builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);
    builder.Services.AddDeterminedClient();
    using var host = builder.Build();
    var client = host.Services.GetRequiredService<DeterminedClient>();
    var me = await client.GetCurrentUserAsync();
    #endregion

    Console.WriteLine($"task {task.TaskId} (allocation {task.AllocationId}) runs as '{me.Username}' on {client.Settings.MasterUri} (TLS: {task.UseTls})");
    foreach (var source in client.Settings.Provenance)
    {
        Console.WriteLine($"  setting {source}");
    }

    const int steps = 3;
    for (var step = 1; step <= steps; step++)
    {
        var line = $"training step {step}/{steps}: loss={1.0 / step:0.000}";
        Console.WriteLine(line);
        await client.PostTaskLogsAsync([new TaskLog { TaskId = task.TaskId, AllocationId = task.AllocationId, Log = line, Level = TaskLogLevel.Info, Source = "task", StdType = TaskLogStdType.Stdout, Timestamp = DateTimeOffset.UtcNow }]);
    }

    Console.WriteLine("training complete");
    return 0;
}
catch (DeterminedException ex)
{
    Console.Error.WriteLine($"task failed: {ex.Message}");
    return 1;
}
