namespace Determined.Security.Tests.Verification;

/// <summary>The exact edges of the host-name and IP-literal rules (each case kills a mutant eng/mutation.sh showed surviving).</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class HostNameBoundaryTests
{
    [Fact]
    public void LabelAndNameLengths_AreRfc1035s_Exactly()
    {
        Assert.True(HostNames.IsValidHostName(new string('a', 63) + ".example", allowWildcard: false));
        Assert.False(HostNames.IsValidHostName(new string('a', 64) + ".example", allowWildcard: false));
        var name253 = string.Join('.', Enumerable.Repeat(new string('a', 63), 3)) + "." + new string('b', 61); // 63*3+3+61 = 253
        Assert.Equal(253, name253.Length);
        Assert.True(HostNames.IsValidHostName(name253, allowWildcard: false));
        Assert.False(HostNames.IsValidHostName(name253 + "b", allowWildcard: false));
        Assert.False(HostNames.IsValidHostName(string.Empty, allowWildcard: false));
        Assert.False(HostNames.IsValidHostName("*.", allowWildcard: true));
    }

    [Theory]
    [InlineData("example.com", true)]
    [InlineData("1example.com", true)] // a numeric first label is fine
    [InlineData("example.123", false)] // an all-numeric last label is not a host name (it would be an IP)
    [InlineData("123", false)]
    [InlineData("a-b.example", true)]
    [InlineData("-ab.example", false)]
    [InlineData("ab-.example", false)]
    [InlineData("a_b.example", false)]
    [InlineData("a..b", false)]
    public void Labels(string name, bool valid) => Assert.Equal(valid, HostNames.IsValidHostName(name, allowWildcard: false));

    [Theory]
    [InlineData("255.255.255.255", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("256.1.1.1", false)]
    [InlineData("1.2.3.4.5", false)]
    [InlineData("1.2.3", false)]
    [InlineData("01.2.3.4", false)]
    [InlineData("1.2.3.1234", false)]
    [InlineData("[::1]", true)]
    [InlineData("::1", true)]
    [InlineData("[::1", false)]
    [InlineData("::1]", false)]
    [InlineData("x::1]", false)] // not bracketed: stripping its first and last characters would leave ::1
    [InlineData("[]", false)]
    [InlineData("[1.2.3.4]", false)]
    [InlineData("fe80::1%eth0", false)]
    [InlineData("::1 ", false)]
    [InlineData("[::1]:8443", false)]
    [InlineData("[", false)]
    [InlineData(" ::1", false)]
    [InlineData("/::1", false)]
    public void IpLiterals_AreStrict(string text, bool valid) => Assert.Equal(valid, HostNames.TryParseIPAddress(text, out _));

    [Fact]
    public void Normalize_DropsAUrlZone_AndATrailingDot()
    {
        Assert.Equal(System.Net.IPAddress.Parse("fe80::1").GetAddressBytes(), HostNames.Normalize("[fe80::1%eth0]").Address);
        Assert.Null(HostNames.Normalize("%zone").Address); // a zone only inside a bracketed literal
        Assert.Equal("%zone", HostNames.Normalize("%zone").Dns);
        Assert.Null(HostNames.Normalize("fe80::1%eth0").Address); // a bare literal with a zone is not an address
        Assert.Equal("master.example", HostNames.Normalize("Master.Example.").Dns);
        Assert.Equal("master.example", HostNames.Normalize("master.example").Dns);
        Assert.Equal(System.Net.IPAddress.IPv6Loopback.GetAddressBytes(), HostNames.Normalize("[::1]").Address);
        Assert.Equal("fe80::1%eth0]", HostNames.Normalize("fe80::1%eth0]").Dns); // not bracketed: no zone to drop
    }

    [Fact]
    public void Wildcards_CoverOneLabel_NotTheBaseName_NotAPublicSuffix()
    {
        Assert.True(HostNames.Matches("*.example.com", "a.example.com", out var suffix));
        Assert.False(suffix);
        Assert.False(HostNames.Matches("*.example.com", "example.com", out _));
        Assert.False(HostNames.Matches("*.example.com", "a.b.example.com", out _));
        Assert.False(HostNames.Matches("*.example.com", ".example.com", out _));
        Assert.False(HostNames.Matches("*.co.uk", "example.co.uk", out suffix));
        Assert.True(suffix);
        Assert.False(HostNames.Matches("*.example.com", "a.other.com", out suffix));
        Assert.False(suffix);
        Assert.True(HostNames.Matches("Master.Example", "master.example", out _));
    }

    [Fact]
    public void IsWithin_IsTheDomainOrASubdomain_AtALabelBoundary()
    {
        Assert.True(HostNames.IsWithin("example.com", "example.com"));
        Assert.True(HostNames.IsWithin("a.example.com", "example.com"));
        Assert.False(HostNames.IsWithin("badexample.com", "example.com"));
        Assert.False(HostNames.IsWithin(".example.com", "example.com")); // an empty label is not a subdomain
        Assert.True(HostNames.IsWithin("anything", string.Empty));
    }

    [Fact]
    public void Unmap_OnlyIpv4MappedAddresses()
    {
        Assert.Equal(new byte[] { 127, 0, 0, 1 }, HostNames.Unmap(System.Net.IPAddress.Parse("::ffff:127.0.0.1").GetAddressBytes()));
        var compatible = System.Net.IPAddress.Parse("::127.0.0.1").GetAddressBytes(); // ::7f00:1, not mapped
        Assert.Equal(compatible, HostNames.Unmap(compatible));
        var almost = System.Net.IPAddress.Parse("::fffe:127.0.0.1").GetAddressBytes();
        Assert.Equal(almost, HostNames.Unmap(almost));
        var prefixed = System.Net.IPAddress.Parse("1::ffff:127.0.0.1").GetAddressBytes();
        Assert.Equal(prefixed, HostNames.Unmap(prefixed));
        var first = System.Net.IPAddress.Parse("100::ffff:127.0.0.1").GetAddressBytes(); // the first byte is not zero
        Assert.Equal(first, HostNames.Unmap(first));
        Assert.Equal(new byte[] { 10, 0, 0, 1 }, HostNames.Unmap([10, 0, 0, 1]));
    }
}
