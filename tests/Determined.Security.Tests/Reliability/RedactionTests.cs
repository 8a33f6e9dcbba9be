namespace Determined.Security.Tests.Reliability;

[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class RedactionTests
{
    [Theory]
    [InlineData("The proxy tunnel request to proxy 'http://user:S3cretPass@proxy:3128/' failed with status code '407'.", "S3cretPass")]
    [InlineData("connect to https://alice:pw%40x@host:8443/path failed", "pw%40x")]
    [InlineData("GET https://m/api?token=abc123&x=1 failed", "abc123")]
    [InlineData("GET https://m/api?x=1&access_token=abc123 failed", "abc123")]
    [InlineData("redirect to https://m/login?password=hunter2", "hunter2")]
    public void Redact_RemovesUserInfoAndTokenParameters(string text, string secret)
    {
        var redacted = SafeText.Redact(text);

        Assert.DoesNotContain(secret, redacted, StringComparison.Ordinal);
        Assert.Contains("***", redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("the chain ends at 'CN=root' and user@example.com wrote it")]
    [InlineData("https://master.example.com:8443/api/v1/me?limit=10")]
    public void Redact_LeavesTextWithoutSecretsAlone(string text) => Assert.Equal(text, SafeText.Redact(text));
}
