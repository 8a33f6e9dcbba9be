using System.Text.Json.Nodes;
using Determined.Samples.Master.Agents;
using Determined.Samples.Master.Tasks;
using Microsoft.AspNetCore.Mvc;

namespace Determined.Samples.Master.Api;

/// <summary>The agents' websocket (<c>/agents</c>) and the REST list of connected agents (<c>GET /api/v1/agents</c>).</summary>
public static class AgentEndpoints
{
    /// <summary>Maps <c>/agents</c> on <paramref name="endpoints"/> (the root) and <c>/agents</c> under <paramref name="api"/> (<c>/api/v1</c>).</summary>
    public static void MapAgentEndpoints(this IEndpointRouteBuilder endpoints, IEndpointRouteBuilder api)
    {
        endpoints.Map("/agents", endpoints.ServiceProvider.GetRequiredService<AgentHub>().HandleAsync);
        api.MapGet("/agents", ([FromServices] AgentDirectory agents, [FromServices] TaskRegistry tasks) =>
            {
                var list = agents.Connected.ToList();
                return Results.Json(new JsonObject
                {
                    ["agents"] = new JsonArray([.. list.Select(a => UpstreamJson.Agent(a, [.. tasks.RunningOn(a.Id)]))]),
                    ["pagination"] = UpstreamJson.Pagination(list.Count),
                });
            })
            .RequireCaller(Callers.User, "listing agents needs a valid user token (Authorization: Bearer); a task's allocation token does not act as its user");
    }
}
