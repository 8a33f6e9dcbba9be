using Determined.Testing;

namespace Determined.Security.Tests.Certificates;

/// <summary>Cases that kill what mutation testing (eng/mutation.sh) showed surviving in CertificatePin.</summary>
public sealed class CertificatePinMutationTests : IDisposable
{
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _cert = TestCertificates.CreateRoot("Pin Test");

    public void Dispose() => _cert.Dispose();

    [Fact]
    public void NullArguments_AreArgumentNullException_NotAnyOtherError()
    {
        Assert.Throws<ArgumentNullException>(() => CertificatePin.Sha256Fingerprint(null!));
        Assert.Throws<ArgumentNullException>(() => CertificatePin.Sha256FingerprintOpenSsl(null!));
        Assert.Throws<ArgumentNullException>(() => CertificatePin.SpkiPin(null!));
        Assert.Throws<ArgumentNullException>(() => CertificatePin.FromCertificate(null!));
        Assert.Throws<ArgumentNullException>(() => CertificatePin.Parse(null!));
        Assert.Throws<ArgumentNullException>(() => CertificatePin.FromCertificate(_cert).Matches(null!));
        Assert.False(CertificatePin.TryParse(null, out var none));
        Assert.Null(none);
    }

    [Fact]
    public void PublicKeyPin_FromCertificate_IsTheSpkiPin_NotTheCertificateHash()
    {
        var spki = CertificatePin.FromCertificate(_cert, CertificatePinKind.PublicKeySha256);

        Assert.Equal(CertificatePin.Parse(CertificatePin.SpkiPin(_cert)), spki);
        Assert.NotEqual(CertificatePin.FromCertificate(_cert).Hash.ToArray(), spki.Hash.ToArray());
        Assert.True(spki.Matches(_cert));
    }

    [Theory]
    [InlineData("SHA256 Fingerprint={0}")] // openssl x509 -fingerprint -sha256
    [InlineData("sha256 Fingerprint:{0}")]
    [InlineData("sha256:{0}")]
    [InlineData("SHA-256: {0}")]
    [InlineData("  {0}  ")]
    public void EveryDocumentedPrefix_Parses(string form)
    {
        var text = string.Format(System.Globalization.CultureInfo.InvariantCulture, form, CertificatePin.Sha256FingerprintOpenSsl(_cert));

        Assert.Equal(CertificatePin.FromCertificate(_cert), CertificatePin.Parse(text));
    }

    [Theory]
    [InlineData("sha256:sha256:{0}")]
    [InlineData("SHA256 Fingerprint=sha-256:{0}")]
    [InlineData("fingerprint={0}")]
    public void OnePrefixOnly_AnythingElseIsRefused(string form)
    {
        var text = string.Format(System.Globalization.CultureInfo.InvariantCulture, form, CertificatePin.Sha256Fingerprint(_cert));

        Assert.False(CertificatePin.TryParse(text, out _));
    }
}
