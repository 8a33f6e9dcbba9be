using System.Text.Json.Nodes;
using Determined.Samples.Master.Tasks;
using Microsoft.AspNetCore.Mvc;

namespace Determined.Samples.Master.Api;

/// <summary>
/// <c>/api/v1/commands</c> (launch, list, read) and <c>/api/v1/workspaces</c> (the one workspace commands land in). Only a
/// user session launches tasks: an allocation token (a task's own credential) never does.
/// </summary>
public static class CommandEndpoints
{
    /// <summary>Maps the command and workspace endpoints under <paramref name="api"/> (<c>/api/v1</c>).</summary>
    public static IEndpointRouteBuilder MapCommandEndpoints(this IEndpointRouteBuilder api)
    {
        var commands = api.MapGroup("/commands");
        commands.MapPost(string.Empty, LaunchAsync)
            .RequireCaller(Callers.User, "launching a task needs a valid user token (Authorization: Bearer) and no invalid credential");

        // GetCommandsResponse: every command (the sample keeps them all), unpaged.
        commands.MapGet(string.Empty, (HttpContext context, [FromServices] TaskRegistry tasks, [FromServices] AuthService auth) =>
            {
                var caller = context.Caller();
                var list = tasks.All.ToList();
                return Results.Json(new JsonObject
                {
                    ["commands"] = new JsonArray([.. list.Select(t => UpstreamJson.Command(t, auth.User(t.User) ?? caller.User))]),
                    ["pagination"] = UpstreamJson.Pagination(list.Count),
                });
            })
            .RequireCaller(Callers.User, "listing commands needs a valid user token (Authorization: Bearer)");

        // GetCommandResponse.
        commands.MapGet("/{commandId}", (string commandId, [FromServices] TaskRegistry tasks, [FromServices] AuthService auth) =>
                tasks.Get(commandId) is { } t && auth.User(t.User) is { } owner
                    ? Results.Json(new JsonObject { ["command"] = UpstreamJson.Command(t, owner), ["config"] = new JsonObject { ["entrypoint"] = new JsonArray([.. t.Command.Select(c => (JsonNode)c)]), ["description"] = t.Description } })
                    : ApiErrors.NotFound($"command {commandId} not found"))
            .RequireCaller(Callers.ReaderOfTask("commandId"), "reading a command needs a valid user token, or the allocation token of that task");

        // GetWorkspacesResponse: the one workspace of this sample, upstream's default "Uncategorized" (commands land there).
        api.MapGet("/workspaces", () => Results.Json(new JsonObject
            {
                ["workspaces"] = new JsonArray(UpstreamJson.DefaultWorkspace()),
                ["pagination"] = UpstreamJson.Pagination(1),
            }))
            .RequireCaller(Callers.User, "listing workspaces needs a valid user token (Authorization: Bearer)");
        return api;
    }

    /// <summary>LaunchCommandRequest in, LaunchCommandResponse out (the command, the config as sent, no warnings).</summary>
    private static async Task<IResult> LaunchAsync(HttpContext context, [FromServices] TaskRegistry tasks)
    {
        var caller = context.Caller();
        var (request, refused) = await RequestJson.ReadAsync(context, LaunchCommandRequest.From);
        if (refused is not null)
        {
            return refused;
        }

        if (request is null)
        {
            return ApiErrors.InvalidArgument(LaunchCommandRequest.Expected);
        }

        try
        {
            var record = await tasks.LaunchAsync(request.Command, request.Description, caller.User, request.AgentId, context.RequestAborted);
            return Results.Json(new JsonObject
            {
                ["command"] = UpstreamJson.Command(record, caller.User),
                ["config"] = request.Config.DeepClone(),
                ["warnings"] = new JsonArray(),
            });
        }
        catch (InvalidOperationException ex)
        {
            return ApiErrors.Unavailable(ex.Message);
        }
    }
}
