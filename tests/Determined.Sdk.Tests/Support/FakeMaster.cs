using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Determined.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Determined.Sdk.Tests;

/// <summary>A TLS server on 127.0.0.1 implementing the REST subset of REFERENCE.md §5, recording what it received.</summary>
public sealed class FakeMaster : IAsyncDisposable
{
    public const string AllocationToken = "alloc-token-SECRET-1234";
    public const string UserToken = "user-token-SECRET-5678";

    private FakeMaster(TlsTestServer server) => Server = server;

    public TlsTestServer Server { get; }

    public Uri Uri => Server.Uri;

    public string? LastAllocationHeader { get; private set; }

    public string? LastAuthorization { get; private set; }

    public JsonObject? LastLogin { get; private set; }

    public int FlakyCalls { get; private set; }

    public JsonObject? LastTaskLogs { get; private set; }

    public static async Task<FakeMaster> StartAsync(X509Certificate2? certificate, params X509Certificate2[] chain)
    {
        FakeMaster? master = null;
        var server = await TlsTestServer.StartAsync(new TlsTestServer.Options
        {
            Certificate = certificate,
            Chain = chain,
            Map = app =>
            {
                app.Use(async (context, next) =>
                {
                    master!.LastAllocationHeader = context.Request.Headers["Grpc-Metadata-x-allocation-token"];
                    master.LastAuthorization = context.Request.Headers.Authorization;
                    await next(context);
                });
                app.MapGet("/api/v1/master", () => Results.Json(new { version = "0.0.0-test", masterId = "m1", clusterId = "c1", clusterName = "test", telemetryEnabled = false }));
                app.MapPost("/api/v1/auth/login", async (HttpContext context) =>
                {
                    var body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
                    master!.LastLogin = body;
                    var ok = (string?)body["username"] == "determined" && (string?)body["password"] == string.Empty && (bool?)body["isHashed"] == true;
                    return ok
                        ? Results.Json(new { token = UserToken, user = new { id = 1, username = "determined", admin = true, active = true } })
                        : Results.Json(new { error = new { code = 16, reason = "Unauthenticated", error = "invalid credentials" } }, statusCode: 401);
                });
                app.MapPost("/api/v1/auth/logout", () => Results.Json(new { }));
                app.MapGet("/api/v1/me", (HttpContext context) =>
                {
                    var auth = context.Request.Headers.Authorization.ToString();
                    var allocation = context.Request.Headers["Grpc-Metadata-x-allocation-token"].ToString();
                    if (auth == "Bearer " + UserToken)
                    {
                        return Results.Json(new { user = new { id = 1, username = "determined", admin = true, active = true, displayName = "Determined" } });
                    }

                    if (allocation == "Bearer " + AllocationToken)
                    {
                        return Results.Json(new { user = new { id = 2, username = "task-owner", admin = false, active = true } });
                    }

                    return Results.Json(new { error = new { code = 16, reason = "Unauthenticated", error = "missing or invalid token" } }, statusCode: 401);
                });
                app.MapPost("/api/v1/task/logs", async (HttpContext context) =>
                {
                    if (context.Request.Headers["Grpc-Metadata-x-allocation-token"].ToString() != "Bearer " + AllocationToken)
                    {
                        return Results.Json(new { error = new { code = 16, reason = "Unauthenticated", error = "missing or invalid token" } }, statusCode: 401);
                    }

                    master!.LastTaskLogs = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
                    return Results.Json(new { });
                });
                app.MapGet("/flaky", () =>
                {
                    master!.FlakyCalls++;
                    return master.FlakyCalls < 3 ? Results.StatusCode(503) : Results.Json(new { version = "ok", master_id = "m1" });
                });
            },
        });
        master = new FakeMaster(server);
        return master;
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
