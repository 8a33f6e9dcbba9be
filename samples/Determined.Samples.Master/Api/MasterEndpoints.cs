using System.Text.Json;
using Determined.Samples.Master.Tasks;

namespace Determined.Samples.Master.Api;

/// <summary><c>GET /info</c> and <c>GET /api/v1/master</c>: who the master is, asked first by every task, agent and CLI.</summary>
public static class MasterEndpoints
{
    /// <summary>Maps both; their answers are serialized once (the identity never changes while the master runs).</summary>
    public static IEndpointRouteBuilder MapMasterEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var identity = endpoints.ServiceProvider.GetRequiredService<MasterIdentity>();
        var info = JsonSerializer.SerializeToUtf8Bytes(
            new
            {
                version = identity.Version,
                master_id = identity.MasterId,
                cluster_id = identity.ClusterId,
                cluster_name = identity.ClusterName,
                // Go's aproto.TelemetryInfo: segment_key is omitted when empty (omitempty).
                telemetry = new { enabled = false, otel_enabled = false, otel_endpoint = string.Empty },
                sso_providers = Array.Empty<object>(),
            },
            JsonSerializerOptions.Web);
        var master = JsonSerializer.SerializeToUtf8Bytes(
            new
            {
                version = identity.Version,
                masterId = identity.MasterId,
                clusterId = identity.ClusterId,
                clusterName = identity.ClusterName,
                telemetryEnabled = false,
                // The fields upstream's Python bindings (v1GetMasterResponse.from_json) require, and the usual rest.
                hasCustomLogo = false,
                strictJobQueueControl = false,
                ssoProviders = Array.Empty<object>(),
                featureSwitches = Array.Empty<string>(),
                rbacEnabled = false,
                userManagementEnabled = true,
                branding = "determined",
                externalLoginUri = string.Empty,
                externalLogoutUri = string.Empty,
                product = "PRODUCT_UNSPECIFIED",
            },
            JsonSerializerOptions.Web);
        endpoints.MapGet("/info", () => Fixed(info));
        endpoints.MapGet("/api/v1/master", () => Fixed(master));
        return endpoints;
    }

    private static IResult Fixed(byte[] json) => Results.Bytes(json, "application/json; charset=utf-8");
}
