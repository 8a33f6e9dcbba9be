namespace Determined.Security;

/// <summary>Object identifiers of the certificate purposes the SDK checks.</summary>
internal static class CertificateNames
{
    internal const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
}
