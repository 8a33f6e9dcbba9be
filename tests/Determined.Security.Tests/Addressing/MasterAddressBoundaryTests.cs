namespace Determined.Security.Tests.Addressing;

/// <summary>The exact edges of master-address parsing (each case kills a mutant eng/mutation.sh showed surviving).</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class MasterAddressBoundaryTests
{
    [Fact]
    public void Nulls_AreArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => MasterAddress.Parse(null!));
        Assert.Throws<ArgumentNullException>(() => MasterAddress.Canonicalize((string)null!));
        Assert.Throws<ArgumentNullException>(() => MasterAddress.Canonicalize((Uri)null!));
        Assert.False(MasterAddress.TryParse(null, out _, out var error));
        Assert.Contains("empty", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://m:65535", "http://m:65535")]
    [InlineData("m:1", "http://m:1")]
    [InlineData("https://m/path/", "https://m:443/path")]
    [InlineData("https://m", "https://m:443")]
    [InlineData("https://@m:8443", "https://m:8443")]
    [InlineData("https://[::1]", "https://[::1]:443")]
    public void Edges_ThatAreValid(string address, string canonical) => Assert.Equal(canonical, MasterAddress.Canonicalize(address));

    [Theory]
    [InlineData("http://m:65536", "the port '65536'")]
    [InlineData("http://m:0", "the port '0'")]
    [InlineData("://m", "the scheme '' is not http or https")]
    [InlineData("http://m?x=1", "cannot have a query")]
    [InlineData("http://m#frag", "cannot have a fragment")]
    [InlineData("http://:8080", "the host is empty")]
    [InlineData("http://[::1", "the IPv6 address in brackets is not valid")]
    [InlineData("http://[::1]x", "unexpected text after the IPv6 address")]
    [InlineData("http://::1:8080", "must be written in brackets")]
    [InlineData("http://a\u0001b", "characters that are not allowed")]
    [InlineData("http://%host", "characters that are not allowed")]
    [InlineData("http://<host>", "characters that are not allowed")]
    public void Edges_ThatAreRefused_SayWhy(string address, string reason)
    {
        Assert.False(MasterAddress.TryParse(address, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://m:0/p@x")] // an '@' in the path is not a credential
    [InlineData("https://@m:0")] // an empty user is nothing to hide
    [InlineData("/alice@h")]
    public void Errors_ShowAddressesWithoutCredentials_AsTheyWere(string address)
    {
        Assert.False(MasterAddress.TryParse(address, out _, out var error));
        Assert.Contains($"'{address}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LoneSurrogates_InHostOrPath_AreRefused()
    {
        // In code, not theory data: the test runner's serialization would replace a lone surrogate before the test runs.
        Assert.False(MasterAddress.TryParse("http://a/" + '\ud800', out _, out var error));
        Assert.Contains("characters that are not allowed", error, StringComparison.Ordinal);
        Assert.False(MasterAddress.TryParse("http://" + '\udc00' + "host", out _, out _));
    }

    [Theory]
    [InlineData("https://alice:s3cret@m:8443", "https://***@m:8443")]
    [InlineData("alice:s3cret@m", "***@m")]
    [InlineData("https://alice:s3cret@m/p?q", "https://***@m/p?***")]
    [InlineData("https://m/p?access_token=s3cret", "https://m/p?***")]
    [InlineData("https://m/p#s3cret", "https://m/p#***")]
    [InlineData("https://m:8443/x?a=1@b&password=s3cret", "https://m:8443/x?***")]
    [InlineData("://alice:s3cret@m", "://***@m")]
    public void Credentials_AreNeverRepeatedInTheError(string address, string shown)
    {
        Assert.False(MasterAddress.TryParse(address, out _, out var error));
        Assert.DoesNotContain("s3cret", error, StringComparison.Ordinal);
        Assert.Contains($"'{shown}'", error, StringComparison.Ordinal);
    }
}
