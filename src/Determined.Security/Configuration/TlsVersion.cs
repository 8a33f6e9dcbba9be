namespace Determined.Security;

/// <summary>The lowest TLS version a connection may negotiate.</summary>
public enum TlsVersion
{
    /// <summary>TLS 1.2 or 1.3 (the default; Determined masters require at least TLS 1.2).</summary>
    Tls12,

    /// <summary>TLS 1.3 only.</summary>
    Tls13,
}
