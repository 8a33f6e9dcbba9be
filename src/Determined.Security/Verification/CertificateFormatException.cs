namespace Determined.Security;

/// <summary>A malformed structure inside a certificate; the message says what, for the rejection text.</summary>
internal sealed class CertificateFormatException(string message) : Exception(message);
