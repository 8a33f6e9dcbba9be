using System.Net.Security;

namespace Determined.Security;

/// <summary>Maps OpenSSL and IANA cipher suite names to <see cref="TlsCipherSuite"/>.</summary>
internal static class CipherSuiteNames
{
    private static readonly Dictionary<string, TlsCipherSuite> s_openSsl = new(StringComparer.OrdinalIgnoreCase)
    {
        ["ECDHE-ECDSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-ECDSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-ECDSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ["ECDHE-RSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-RSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-RSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ["ECDHE-ECDSA-AES128-SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
        ["ECDHE-ECDSA-AES256-SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
        ["ECDHE-RSA-AES128-SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
        ["ECDHE-RSA-AES256-SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
        ["ECDHE-ECDSA-AES128-SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        ["ECDHE-ECDSA-AES256-SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        ["ECDHE-RSA-AES128-SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        ["ECDHE-RSA-AES256-SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
        ["DHE-RSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256,
        ["DHE-RSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384,
        ["DHE-RSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ["AES128-GCM-SHA256"] = TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,
        ["AES256-GCM-SHA384"] = TlsCipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,
    };

    /// <summary>Parses a list of names; every unknown name is reported.</summary>
    public static List<TlsCipherSuite> Parse(string text, List<string> errors)
    {
        var result = new List<TlsCipherSuite>();
        foreach (var raw in text.Split([':', ',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (s_openSsl.TryGetValue(raw, out var suite)
                || (raw.StartsWith("TLS_", StringComparison.OrdinalIgnoreCase) && Enum.TryParse(raw, ignoreCase: true, out suite) && Enum.IsDefined(suite)))
            {
                if (!result.Contains(suite))
                {
                    result.Add(suite);
                }
            }
            else if (raw.StartsWith('!') || raw.StartsWith('+') || raw.StartsWith('-') || raw.Equals("HIGH", StringComparison.OrdinalIgnoreCase) || raw.Equals("DEFAULT", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"TlsOptions.CipherSuites: the OpenSSL cipher keyword '{raw}' is not supported. Fix: list the suites explicitly, e.g. ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256 (see 'openssl ciphers -v {raw}').");
            }
            else
            {
                errors.Add($"TlsOptions.CipherSuites: '{raw}' is not a known cipher suite. Fix: use an OpenSSL name (ECDHE-RSA-AES128-GCM-SHA256) or an IANA name (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256).");
            }
        }

        if (result.Count == 0 && errors.Count == 0)
        {
            errors.Add("TlsOptions.CipherSuites lists no cipher suite. Fix: list at least one, or leave it unset for the platform defaults.");
        }

        return result;
    }
}
