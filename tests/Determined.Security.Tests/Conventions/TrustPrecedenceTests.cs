namespace Determined.Security.Tests.Conventions;

/// <summary>
/// Upstream's trust precedence as one classification: what each combination of settings selects, and which selections keep
/// trust on first use out (the settings resolver treats every selection but None as explicit).
/// </summary>
public sealed class TrustPrecedenceTests
{
    [Theory]
    [InlineData(null, null, null, false, "None")]
    [InlineData("", " ", "\t", false, "None")]
    [InlineData(null, null, "master.example.com", false, "NameOnly")]
    [InlineData("/etc/ca.pem", null, null, false, "Pinned")]
    [InlineData("/etc/ca.pem", null, "master.example.com", false, "Pinned")]
    [InlineData(null, "-----BEGIN CERTIFICATE-----", null, false, "Pinned")]
    [InlineData(" noverify", null, null, false, "Pinned")]
    [InlineData("noverify", null, null, false, "SkipVerification")]
    [InlineData("NoVerify", null, "master.example.com", false, "SkipVerification")]
    [InlineData(null, null, "master.example.com", true, "SkipVerification")]
    [InlineData("/etc/ca.pem", null, null, true, "SkipVerification")]
    public void Of_ClassifiesTheSettings(string? file, string? pem, string? name, bool skip, string expected)
    {
        var options = new TlsOptions { MasterCertificateFile = file, MasterCertificatePem = pem, MasterCertificateName = name, DangerousSkipVerification = skip };

        Assert.Equal(expected, TrustPrecedence.Of(options).ToString());
    }

    [Theory]
    [InlineData("None", false)]
    [InlineData("NameOnly", false)]
    [InlineData("Pinned", true)]
    [InlineData("SkipVerification", true)]
    public void PinsTrust_OnlyForTrustMaterialOrSkipVerification(string selection, bool pins) =>
        Assert.Equal(pins, TrustPrecedence.PinsTrust(Enum.Parse<TrustSelection>(selection)));
}
