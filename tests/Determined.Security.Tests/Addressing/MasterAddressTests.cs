namespace Determined.Security.Tests.Addressing;

[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class MasterAddressTests
{
    [Theory]
    [InlineData("host", "http://host:8080")]
    [InlineData("host:99", "http://host:99")]
    [InlineData("http://host", "http://host:80")]
    [InlineData("https://host", "https://host:443")]
    [InlineData("http://host/", "http://host:80")]
    [InlineData("http://host:99/path/", "http://host:99/path")]
    [InlineData("http://@host:8080", "http://host:8080")]
    [InlineData("[::1]:8443", "http://[::1]:8443")]
    [InlineData("https://[::1]:8443", "https://[::1]:8443")]
    [InlineData("https://[::1]", "https://[::1]:443")]
    [InlineData("HTTPS://Master.Example:8443", "https://master.example:8443")] // hosts lower-cased, as Python's urlparse().hostname
    [InlineData("https://LOCALHOST:8443/Api/", "https://localhost:8443/Api")] // the path keeps its case
    [InlineData("http://[::ABCD]:1", "http://[::abcd]:1")]
    [InlineData("  10.0.0.5:8443  ", "http://10.0.0.5:8443")]
    public void Canonicalize_UpstreamVectors_MatchDetermined(string input, string expected)
    {
        Assert.Equal(expected, MasterAddress.Canonicalize(input));
        Assert.True(MasterAddress.TryParse(input, out var uri, out _));
        Assert.Equal(expected, MasterAddress.Canonicalize(uri));
    }

    [Theory]
    [InlineData("http://user@host:8080", "credentials")]
    [InlineData("http://user:pass@host:8080", "credentials")]
    [InlineData("http://host?query=bad", "query")]
    [InlineData("http://host#fragment", "fragment")]
    [InlineData("http://:8080", "host is empty")]
    [InlineData("http://", "host is empty")]
    [InlineData("", "empty")]
    [InlineData("ftp://host", "scheme")]
    [InlineData("host:0", "port")]
    [InlineData("host:70000", "port")]
    [InlineData("host:abc", "port")]
    [InlineData("::1:8080", "brackets")]
    [InlineData("[::1", "IPv6")]
    public void Canonicalize_Invalid_ThrowsWithReasonAndFix(string input, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => MasterAddress.Canonicalize(input));

        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
        Assert.False(MasterAddress.TryParse(input, out _, out var error));
        Assert.Equal(ex.Message, error);
    }

    [Fact]
    public void Credentials_AreNeverRepeatedInTheError()
    {
        var ex = Assert.Throws<FormatException>(() => MasterAddress.Parse("http://user:s3cret@host:8080/x"));

        Assert.DoesNotContain("s3cret", ex.Message, StringComparison.Ordinal);
        Assert.Contains("http://***@host:8080/x", ex.Message, StringComparison.Ordinal);
    }
}
