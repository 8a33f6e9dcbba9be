using Determined.Testing;

namespace Determined.Security.Tests.Certificates;

public sealed class CertificatePinTests
{
    private static readonly System.Security.Cryptography.X509Certificates.X509Certificate2 s_cert = TestCertificates.CreateLeaf(null);

    [Trait("Wine", Wine.RunsLinuxProgram)]
    [Fact]
    public void Sha256Fingerprint_MatchesOpenSslOutput()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllText(Path.Combine(dir, "c.pem"), TestCertificates.Pem(s_cert));

        var openssl = TestCertificates.Run(dir, "x509", "-in", "c.pem", "-noout", "-fingerprint", "-sha256").Trim();

        Assert.Equal(openssl.Split('=')[1], CertificatePin.Sha256FingerprintOpenSsl(s_cert));
        Assert.Equal(openssl.Split('=')[1].ToLowerInvariant(), CertificatePin.Sha256Fingerprint(s_cert));
        Assert.Matches("^([0-9a-f]{2}:){31}[0-9a-f]{2}$", CertificatePin.Sha256Fingerprint(s_cert));
    }

    [Trait("Wine", Wine.RunsLinuxProgram)]
    [Fact]
    public void SpkiPin_MatchesOpenSslPipeline()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllText(Path.Combine(dir, "c.pem"), TestCertificates.Pem(s_cert));
        TestCertificates.Run(dir, "x509", "-in", "c.pem", "-noout", "-pubkey", "-out", "pub.pem");
        TestCertificates.Run(dir, "pkey", "-pubin", "-in", "pub.pem", "-outform", "der", "-out", "pub.der");
        var expected = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, "pub.der"))));

        Assert.Equal("sha256/" + expected, CertificatePin.SpkiPin(s_cert));
    }

    [Theory]
    [InlineData("{0}")]
    [InlineData("{1}")]
    [InlineData("sha256:{0}")]
    [InlineData("SHA256:{1}")]
    [InlineData("SHA256 Fingerprint={1}")]
    [InlineData("  {0}  ")]
    [InlineData("{2}")]
    [InlineData("sha256:{3}")]
    public void Parse_EveryFingerprintForm_MatchesTheCertificate(string format)
    {
        var lower = CertificatePin.Sha256Fingerprint(s_cert);
        var text = string.Format(System.Globalization.CultureInfo.InvariantCulture, format, lower, lower.ToUpperInvariant(), lower.Replace(":", "", StringComparison.Ordinal), lower.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant());

        var pin = CertificatePin.Parse(text);

        Assert.Equal(CertificatePinKind.CertificateSha256, pin.Kind);
        Assert.True(pin.Matches(s_cert));
        Assert.Equal(lower, pin.ToString());
    }

    [Fact]
    public void Parse_SpkiForms_MatchTheCertificate()
    {
        var spki = CertificatePin.SpkiPin(s_cert);

        Assert.True(CertificatePin.Parse(spki).Matches(s_cert));
        Assert.True(CertificatePin.Parse($"pin-sha256=\"{spki[7..]}\"").Matches(s_cert));
        Assert.Equal(CertificatePinKind.PublicKeySha256, CertificatePin.Parse(spki).Kind);
        Assert.Equal(spki, CertificatePin.Parse(spki).ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("zz:zz")]
    [InlineData("sha256/")]
    [InlineData("sha256/AAAA")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0")]
    [InlineData("01:23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Parse_Invalid_ThrowsFormatExceptionShowingAcceptedForms(string text)
    {
        Assert.False(CertificatePin.TryParse(text, out _));
        var ex = Assert.Throws<FormatException>(() => CertificatePin.Parse(text));
        Assert.Contains("Accepted:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Matches_OtherCertificate_IsFalse()
    {
        var other = TestCertificates.CreateLeaf(null);

        Assert.False(CertificatePin.FromCertificate(s_cert).Matches(other));
        Assert.False(CertificatePin.FromCertificate(s_cert, CertificatePinKind.PublicKeySha256).Matches(other));
    }
}
