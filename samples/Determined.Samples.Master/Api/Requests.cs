using System.Text.Json;
using System.Text.Json.Nodes;

namespace Determined.Samples.Master.Api;

/// <summary>
/// <c>POST /api/v1/auth/login</c>: upstream's <c>LoginRequest</c>. A missing or non-string <c>username</c> is null (the
/// endpoint refuses it), a missing or non-string <c>password</c> is empty, and <c>isHashed</c> is true only when it is
/// the JSON literal <c>true</c>.
/// </summary>
/// <param name="Username">The user name, or null.</param>
/// <param name="Password">The password (hashed by the client when <paramref name="IsHashed"/>).</param>
/// <param name="IsHashed">Whether the client sent Determined's client-side hash instead of the password.</param>
public sealed record LoginRequest(string? Username, string Password, bool IsHashed)
{
    /// <summary>The request from its JSON body (null or not an object: no user name).</summary>
    public static LoginRequest From(JsonNode? json)
    {
        var body = json as JsonObject;
        return new LoginRequest(RequestJson.Text(body?["username"]), RequestJson.Text(body?["password"]) ?? string.Empty, RequestJson.IsTrue(body?["isHashed"]));
    }
}

/// <summary>
/// <c>POST /api/v1/commands</c>: upstream's <c>LaunchCommandRequest</c>,
/// <c>{"config": {"entrypoint": [...] or "...", "description": ...}, "templateName", "files", "data", "workspaceId"}</c>;
/// a top-level <c>agentId</c> is this sample's extension to choose the agent.
/// </summary>
/// <param name="Command">The entrypoint as argv (a string entrypoint runs with <c>sh -c</c>).</param>
/// <param name="Description">config.description when it is a string.</param>
/// <param name="AgentId">The agent to launch on, or null for the first connected one.</param>
/// <param name="Config">The request's <c>config</c> as sent (echoed in the answer).</param>
public sealed record LaunchCommandRequest(IReadOnlyList<string> Command, string? Description, string? AgentId, JsonObject Config)
{
    /// <summary>The answer to a request without a usable entrypoint.</summary>
    public const string Expected = "expected {\"config\":{\"entrypoint\":[\"program\",\"arg\",...]}} (LaunchCommandRequest)";

    /// <summary>The request from its JSON body; null when it has no non-empty entrypoint of strings (nothing else is read then).</summary>
    public static LaunchCommandRequest? From(JsonNode? json)
    {
        var config = (json as JsonObject)?["config"] as JsonObject;
        var entrypoint = config?["entrypoint"];
        List<string?>? command = entrypoint?.GetValueKind() switch
        {
            JsonValueKind.Array => [.. ((JsonArray)entrypoint).Select(RequestJson.Text)],
            JsonValueKind.String => ["sh", "-c", RequestJson.Text(entrypoint)],
            _ => null,
        };
        if (command is null || command.Count == 0 || command.Any(c => c is null))
        {
            return null;
        }

        return new LaunchCommandRequest(command!, RequestJson.Text(config!["description"]), RequestJson.Text(json!["agentId"]), config);
    }
}
