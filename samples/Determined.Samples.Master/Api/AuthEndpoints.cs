using System.Text.Json.Nodes;
using Determined.Samples.Master.Limits;
using Microsoft.AspNetCore.Mvc;

namespace Determined.Samples.Master.Api;

/// <summary><c>/api/v1/auth/login</c>, <c>/api/v1/auth/logout</c> and <c>/api/v1/me</c>: user sessions.</summary>
public static class AuthEndpoints
{
    /// <summary>Maps the session endpoints under <paramref name="api"/> (<c>/api/v1</c>).</summary>
    public static IEndpointRouteBuilder MapAuthEndpoints(this IEndpointRouteBuilder api)
    {
        var auth = api.MapGroup("/auth");
        auth.MapPost("/login", LoginAsync);
        auth.MapPost("/logout", (HttpContext context, [FromServices] AuthService auth) =>
        {
            var token = AuthService.Bearer(context.Request.Headers.Authorization.ToString());
            return token is not null && auth.Logout(token) ? Results.Json(new { }) : ApiErrors.Unauthenticated("no valid session token (Authorization: Bearer)");
        });
        api.MapGet("/me", (HttpContext context) => Results.Json(new JsonObject { ["user"] = UpstreamJson.User(context.Caller().User) }))
            .RequireCaller(Callers.Anyone, "missing or invalid token");
        return api;
    }

    private static async Task<IResult> LoginAsync(HttpContext context, [FromServices] AuthService auth, [FromServices] LoginThrottle loginFailures)
    {
        var (login, refused) = await RequestJson.ReadAsync(context, LoginRequest.From);
        if (refused is not null)
        {
            return refused;
        }

        if (login!.Username is not { } username)
        {
            return ApiErrors.InvalidArgument("username is required");
        }

        // Failures are counted per address and user name (and per address): one client cannot lock every user out of a
        // shared address, and the counting itself is bounded in memory whatever names are sent (LoginThrottle).
        var address = context.Connection.RemoteIpAddress;
        if (loginFailures.IsLockedOut(address, username))
        {
            return ApiErrors.Error(StatusCodes.Status429TooManyRequests, 8, "ResourceExhausted", $"too many failed logins from {address}; try again in a minute");
        }

        var token = auth.Login(username, login.Password, login.IsHashed);
        if (token is null)
        {
            loginFailures.Failed(address, username);
            return ApiErrors.Unauthenticated("invalid credentials");
        }

        var user = auth.User(username)!;
        return Results.Json(new JsonObject { ["token"] = token, ["user"] = UpstreamJson.User(user) });
    }
}
