using System.Globalization;
using System.Text.Json.Nodes;
using Determined.Samples.Common.Protocol;
using Determined.Samples.Master.Configuration;
using Determined.Samples.Master.Limits;
using Determined.Samples.Master.Tasks;
using Microsoft.AspNetCore.Mvc;

namespace Determined.Samples.Master.Api;

/// <summary>
/// <c>/api/v1/tasks</c> (list, read, stream logs) and <c>POST /api/v1/task/logs</c> (a task's own log lines). A user
/// session reads any task; an allocation token only its own task.
/// </summary>
public static class TaskEndpoints
{
    /// <summary>Maps the task endpoints under <paramref name="api"/> (<c>/api/v1</c>).</summary>
    public static IEndpointRouteBuilder MapTaskEndpoints(this IEndpointRouteBuilder api)
    {
        api.MapPost("/task/logs", PostLogsAsync)
            .RequireCaller(Callers.Allocation, "task logs need an allocation token (Grpc-Metadata-x-allocation-token: Bearer $DET_SESSION_TOKEN)");

        // GetTasksResponse: the allocations that have not ended, by allocation id.
        var tasks = api.MapGroup("/tasks");
        tasks.MapGet(string.Empty, ([FromServices] TaskRegistry tasks) =>
            {
                var summaries = new JsonObject();
                foreach (var task in tasks.All.Where(t => t.State != ContainerStates.Terminated))
                {
                    summaries[task.AllocationId] = UpstreamJson.AllocationSummary(task);
                }

                return Results.Json(new JsonObject { ["allocationIdToSummary"] = summaries });
            })
            .RequireCaller(Callers.User, "listing tasks needs a valid user token (Authorization: Bearer)");

        tasks.MapGet("/{taskId}", (string taskId, [FromServices] TaskRegistry tasks) =>
                tasks.Get(taskId) is { } t
                    ? Results.Json(new JsonObject { ["task"] = UpstreamJson.Task(t) })
                    : ApiErrors.NotFound($"task {taskId} not found"))
            .RequireCaller(Callers.ReaderOfTask("taskId"), "reading a task needs a valid user token, or the allocation token of that task");

        tasks.MapGet("/{taskId}/logs", StreamLogsAsync)
            .RequireCaller(Callers.ReaderOfTask("taskId"), "reading a task's logs needs a valid user token, or the allocation token of that task");
        return api;
    }

    /// <summary>
    /// PostTaskLogsRequest: the body (at most 8 MiB, the endpoint's limit) is read as bytes and walked token by token,
    /// never as a tree; all posts together hold at most <see cref="TaskLogBudget.MaxBytesInFlight"/>.
    /// </summary>
    private static async Task<IResult> PostLogsAsync(HttpContext context, [FromServices] TaskRegistry tasks, [FromServices] TaskLogBudget budget, [FromServices] MasterConfig config)
    {
        var allocation = context.Caller().Allocation!;
        var reserved = context.Request.ContentLength ?? RequestLimits.MaxLogBodyBytes;
        if (!budget.TryReserve(reserved))
        {
            return ApiErrors.Error(StatusCodes.Status503ServiceUnavailable, 14, "Unavailable", "too many task-log bytes are being received at once; retry shortly");
        }

        byte[] body;
        try
        {
            body = await RequestJson.ReadBytesAsync(context.Request, (int)Math.Min(reserved, RequestLimits.MaxLogBodyBytes), context.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return ApiErrors.TooLarge("the request body is larger than this endpoint accepts");
        }
        finally
        {
            budget.Release(reserved);
        }

        var (logs, refusal) = TaskLogsReader.Read(body, config.MaxLogEntriesPerRequest);
        if (logs is null)
        {
            return ApiErrors.InvalidArgument(refusal!);
        }

        foreach (var entry in logs)
        {
            if (!tasks.AddTaskLog(allocation, entry.AllocationId, entry.Log, entry.StdType))
            {
                return ApiErrors.PermissionDenied($"the allocation token of {allocation.AllocationId} cannot write logs of allocation {entry.AllocationId}");
            }
        }

        return Results.Json(new { });
    }

    /// <summary>
    /// A server stream as grpc-gateway writes it: one {"result": TaskLogsResponse} per line. follow=true keeps the stream
    /// open until the task ends (or the client leaves); limit caps the lines.
    /// </summary>
    private static async Task StreamLogsAsync(HttpContext context, string taskId, [FromServices] TaskRegistry tasks, [FromServices] AuthService auth)
    {
        if (tasks.Get(taskId) is not { } task)
        {
            await ApiErrors.NotFound($"task {taskId} not found").ExecuteAsync(context);
            return;
        }

        var followText = context.Request.Query["follow"].ToString();
        var limitText = context.Request.Query["limit"].ToString();
        var limit = 0;
        if (followText is not ("" or "true" or "false") || (limitText.Length > 0 && !int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit)))
        {
            await ApiErrors.InvalidArgument("follow must be true or false, and limit a number from 0 (no limit) to 2147483647").ExecuteAsync(context);
            return;
        }

        var follow = followText == "true";
        limit = limit == 0 ? int.MaxValue : limit;
        context.Response.ContentType = "application/json";
        var ct = context.RequestAborted;
        long last = 0;
        var written = 0;
        try
        {
            while (written < limit)
            {
                var ended = task.State == ContainerStates.Terminated;
                foreach (var entry in task.Logs.After(last, Math.Min(1000, limit - written)))
                {
                    await context.Response.WriteAsync(UpstreamJson.TaskLogLine(task, entry).ToJsonString() + "\n", ct);
                    last = entry.Id;
                    written++;
                }

                if (!follow || (ended && task.Logs.After(last, 1).Count == 0))
                {
                    break;
                }

                // A followed stream ends when the task ends, the client leaves, or the caller's credentials stop working.
                await context.Response.Body.FlushAsync(ct);
                await task.Logs.WaitForAppendAsync(TimeSpan.FromSeconds(1), ct);
                if (!Callers.MayRead(auth.Authenticate(context), taskId))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client left a followed stream.
        }
    }
}
