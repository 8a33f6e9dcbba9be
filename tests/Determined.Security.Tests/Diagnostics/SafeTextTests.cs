namespace Determined.Security.Tests.Diagnostics;

/// <summary>
/// The one safe-text helper (SafeText), each form on its rule. The sample master logs what a peer sends before it is
/// authenticated with <see cref="SafeText.LogField"/> (it links the file), so its cases live here.
/// </summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class SafeTextTests
{
    [Theory]
    [InlineData("x\u001b[2J", "x\\u001b[2J")]
    [InlineData("evil\u202Egnp.exe", "evil\\u202egnp.exe")]
    [InlineData("line\nforged: Agent admin registered", "line\\u000aforged: Agent admin registered")]
    [InlineData("", "")]
    public void AgentIds_AreEscapedForTheLog(string id, string logged)
    {
        Assert.Equal(logged, SafeText.LogField(id));
        Assert.Equal(129, SafeText.LogField(new string('a', 500)).Length);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("bell\u0007", "bell\\u0007")]
    [InlineData("ünï", "\\u00fcn\\u00ef")]
    public void Ascii_KeepsOnlyPrintableAscii(string value, string expected) => Assert.Equal(expected, SafeText.Ascii(value));

    [Fact]
    public void Ascii_StopsAt200Characters() => Assert.Equal(new string('a', 200) + "…", SafeText.Ascii(new string('a', 300)));

    [Theory]
    [InlineData("a\u001bb", "a b")]
    [InlineData("rtl\u202Eo", "rtl o")]
    [InlineData("ünï", "ünï")]
    public void Spaced_KeepsTheLength(string text, string expected) => Assert.Equal(expected, SafeText.Spaced(text));

    [Fact]
    public void Spaced_ReplacesALoneSurrogate() => Assert.Equal("lone\uFFFDx", SafeText.Spaced("lone" + (char)0xD800 + "x"));

    [Theory]
    [InlineData("ünï\r", "ünï\\u000d")]
    [InlineData("bidi\u2066", "bidi\\u2066")]
    public void Terminal_EscapesControlsAndFormats(string text, string expected) => Assert.Equal(expected, SafeText.Terminal(text));

    [Theory]
    [InlineData("https://user:pw@m:8443/x?access_token=abc#f", "https://***@m:8443/x?***")]
    [InlineData("m:8443", "m:8443")]
    public void RedactAddress_HidesCredentialsAndQuery(string address, string expected) => Assert.Equal(expected, SafeText.RedactAddress(address));
}
