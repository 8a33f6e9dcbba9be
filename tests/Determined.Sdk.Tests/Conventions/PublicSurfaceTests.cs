using System.Net;
using System.Text.Json;

namespace Determined.Sdk.Tests.Conventions;

/// <summary>The members of the SDK's public surface that other tests reach only indirectly (or in child processes): each once, for real.</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class PublicSurfaceTests
{
#pragma warning disable RS0030 // The process-environment entry points are compared with the same rule read through the process's own reader.
    private static string? Process(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
#pragma warning restore RS0030

    [Fact]
    public void MasterInfo_ReadsGosTelemetryObject()
    {
        var on = JsonSerializer.Deserialize("""{"version":"0.38.0","master_id":"m","cluster_id":"c","cluster_name":"n","telemetry":{"enabled":true,"otel_enabled":false}}""", SdkJsonContext.Default.MasterInfo)!;
        var off = JsonSerializer.Deserialize("""{"version":"0.38.0"}""", SdkJsonContext.Default.MasterInfo)!;

        Assert.True(on.TelemetryEnabled);
        Assert.Equal("n", on.ClusterName);
        Assert.False(off.TelemetryEnabled);
        Assert.Contains("\"telemetry\":{\"enabled\":true}", JsonSerializer.Serialize(on, SdkJsonContext.Default.MasterInfo), StringComparison.Ordinal);
    }

    [Fact]
    public void ProcessEnvironmentEntryPoints_AgreeWithTheRuleTheyWrap()
    {
        Assert.Equal(Path.Combine(Determined.Security.DeterminedConfigDirectory.GetPath(), DeterminedTokenStore.FileName), DeterminedTokenStore.OpenDefault().FilePath);
        if (Process("DET_TASK_ID") is null)
        {
            Assert.Throws<DeterminedException>(() => DeterminedTaskInfo.FromEnvironment());
            Assert.Throws<DeterminedException>(() => DeterminedTaskInfo.FromEnvironment(Process));
        }
        else
        {
            Assert.Equal(DeterminedTaskInfo.FromEnvironment(Process).TaskId, DeterminedTaskInfo.FromEnvironment().TaskId);
        }
    }

    [Fact]
    public void DeterminedApiException_ClassifiesStatusCodes()
    {
        Assert.True(new DeterminedApiException(HttpStatusCode.NotFound, 5, "NotFound", "no such task").IsNotFound);
        Assert.False(new DeterminedApiException(HttpStatusCode.Forbidden, 7, null, "x").IsNotFound);
        Assert.True(new DeterminedApiException(HttpStatusCode.ServiceUnavailable, 14, null, "x").IsTransient);
        var empty = new DeterminedApiException();
        Assert.False(empty.IsTransient);
        Assert.IsAssignableFrom<DeterminedException>(empty);
    }

    [Fact]
    public void DeterminedSetting_ToString_ShowsNameValueOriginAndLocation()
    {
        Assert.Equal("Token = (set)  [Environment: DET_USER_TOKEN]", new DeterminedSetting("Token", "(set)", SettingOrigin.Environment, "DET_USER_TOKEN").ToString());
        Assert.Equal("User = (unset)  [Default: none]", new DeterminedSetting("User", null, SettingOrigin.Default, "none").ToString());
    }
}
