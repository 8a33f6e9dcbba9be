using System.Globalization;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>One defect found in a chain: its class, what was seen (a sentence without final period) and the fix.</summary>
internal readonly record struct CertificateProblem(MasterConnectionError Error, string Detail, string Fix);

/// <summary>
/// The rules every server certificate chain must meet after the platform has built it and checked its signatures
/// (docs/SECURITY-PROFILE.md lists them with the reasons and the peers that decide the same way). One implementation,
/// used by the handshake callback, <see cref="CertificateTrustResolver.ValidateCertificate"/>, trust on first use
/// (through the resolver) and the doctor: end-entity rules, keys and signatures on every certificate, names (SAN only,
/// valid host names, no wildcard over a public suffix), name constraints, and validity on the caller's clock.
/// </summary>
internal static partial class ServerCertificateProfile
{
    /// <summary>The most name-against-constraint comparisons one chain may cost; beyond it the chain is refused.</summary>
    internal const int MaxNameConstraintComparisons = 1 << 16;

    private const string AnyExtendedKeyUsageOid = "2.5.29.37.0";

    private const string ReissueFix = "re-issue the master certificate (security.tls.cert on the master) with a current tool, e.g. the SDK's DevelopmentCertificateAuthority or 'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -addext subjectAltName=DNS:<master name>'";

    private const string ReissueCaFix = "re-issue that CA certificate with a current tool (e.g. the SDK's DevelopmentCertificateAuthority), then the certificates below it, and pin the new CA";

    /// <summary>
    /// Checks a built path, leaf first. The last element is the trust anchor when <paramref name="anchored"/> is true
    /// (a pinned or system root, or a pinned intermediate); its own signature is not judged.
    /// </summary>
    /// <param name="path">The certificates of the chain, leaf first.</param>
    /// <param name="facts">The parsed facts of each element of <paramref name="path"/>.</param>
    /// <param name="anchored">Whether the last element is a trust anchor.</param>
    /// <param name="expectedName">The host name or IP address verified.</param>
    /// <param name="now">The time the chain is judged at.</param>
    /// <param name="problems">Receives every defect found.</param>
    public static void Check(IReadOnlyList<X509Certificate2> path, IReadOnlyList<CertificateFacts> facts, bool anchored, string expectedName, DateTimeOffset now, List<CertificateProblem> problems)
    {
        // RFC 5280 validity has one-second resolution: judge the clock at whole seconds (inclusive bounds).
        var seconds = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        // A path of one self-issued certificate is its own root: anchored (pinned, or in the system store) it is the trust
        // anchor; unanchored it is refused by the anchor rules as an untrusted root, and pinning it is the fix (trust on
        // first use offers exactly that). Either way the end-entity rules that a CA:TRUE leaf breaks do not apply to it:
        // 'openssl req -x509' makes CA:TRUE masters (docs/SECURITY-PROFILE.md rule 5).
        var leafIsAnchor = path.Count == 1 && facts[0].SelfIssued;
        for (var i = 0; i < path.Count; i++)
        {
            var f = facts[i];
            var isAnchor = anchored && i == path.Count - 1;
            var who = Describe(path[i], i, isAnchor);
            if (f.Malformed is not null)
            {
                problems.Add(new(MasterConnectionError.MalformedCertificate, $"{who} is malformed: {f.Malformed}", i == 0 ? ReissueFix : ReissueCaFix));
                continue;
            }

            CheckValidity(f, who, i, seconds, problems);
            if (WeakKeyReason(f) is { } weak)
            {
                problems.Add(new(MasterConnectionError.WeakKey, $"{who} has a key that is refused: {weak}",
                    i == 0 ? "re-issue the master certificate with an RSA key of at least 2048 bits or an EC P-256/P-384 key" : "re-issue the CA with an RSA key of at least 2048 bits or an EC P-256/P-384 key, then the certificates it signed"));
            }

            if (!isAnchor)
            {
                if (WeakSignature(f.SignatureAlgorithm) is { } algorithm)
                {
                    problems.Add(new(MasterConnectionError.WeakSignature, $"{who} is signed with {algorithm}, which is broken",
                        i == 0 ? "re-issue the master certificate with a SHA-256 (or stronger) signature" : "re-issue the CA certificate with a SHA-256 (or stronger) signature"));
                }

                if (!IsValidSerialNumber(f.SerialNumber))
                {
                    problems.Add(new(MasterConnectionError.MalformedCertificate, $"{who} has a serial number that is zero, negative or longer than 20 bytes (RFC 5280 4.1.2.2)", i == 0 ? ReissueFix : ReissueCaFix));
                }
            }

            if (i == 0)
            {
                CheckLeaf(f, who, leafIsAnchor, expectedName, problems);
            }
            else
            {
                CheckAuthority(f, who, isAnchor, problems);
            }

            if (isAnchor && f.SelfIssued && f.AuthorityKeyIdentifierWithoutKeyId)
            {
                problems.Add(new(MasterConnectionError.MalformedCertificate,
                    $"{who} has an authority key identifier without its keyIdentifier field, so it cannot be matched to its own key",
                    "re-create the root with authorityKeyIdentifier = keyid (or without the extension) and pin it"));
            }
        }

        // Name constraints come from the CAs above the leaf (none when a pinned leaf is its own anchor); a malformed leaf's
        // names cannot be judged and it is already refused.
        if (facts[0].Malformed is null)
        {
            CheckNameConstraints(path, facts, problems);
        }
    }

    private static string Describe(X509Certificate2 certificate, int index, bool isAnchor)
    {
        var subject = CertificateSummary.SafeSubject(certificate) is { Length: > 0 } name ? $"'{name}'" : "with an empty subject";
        return index == 0 ? $"the server certificate {subject}" : isAnchor ? $"the trusted CA certificate {subject}" : $"the CA certificate {subject} (chain position {index})";
    }

    /// <summary>RFC 5280 4.1.2.2: a positive integer of at most 20 octets (the reader has already refused a non-minimal or empty one).</summary>
    private static bool IsValidSerialNumber(byte[] serial) =>
        serial.Length is > 0 and <= 20 && serial[0] < 0x80 && serial.AsSpan().ContainsAnyExcept((byte)0);

    private static void CheckValidity(CertificateFacts f, string who, int index, DateTimeOffset now, List<CertificateProblem> problems)
    {
        var clockFix = "if this machine's clock is wrong, correct it (NTP)";
        if (now < f.NotBefore)
        {
            problems.Add(new(MasterConnectionError.NotYetValid,
                $"{who} is not valid until {Messages.Date(f.NotBefore)} and this machine's clock says {Messages.Date(now)}",
                $"{clockFix}; otherwise wait until the certificate becomes valid or re-issue it with a correct start date"));
        }
        else if (now > f.NotAfter)
        {
            problems.Add(new(MasterConnectionError.Expired,
                $"{who} expired at {Messages.Date(f.NotAfter)} and this machine's clock says {Messages.Date(now)}",
                index == 0
                    ? $"renew the master's certificate (security.tls.cert and security.tls.key on the master; the sample master reloads it without a restart); {clockFix}"
                    : $"renew the expired CA certificate and re-issue the certificates below it (or pin the renewed CA); {clockFix}"));
        }
    }

    private static void CheckLeaf(CertificateFacts f, string who, bool leafIsAnchor, string expectedName, List<CertificateProblem> problems)
    {
        if (f.IsCertificateAuthority && !leafIsAnchor)
        {
            problems.Add(new(MasterConnectionError.CaCertificateAsServer,
                $"{who} is a CA certificate (basicConstraints CA:TRUE) presented as the server's own certificate",
                "on the master, set security.tls.cert to a server certificate issued by that CA (leaf first, then intermediates), not to the CA certificate; a self-signed CA:TRUE certificate is accepted only when it is itself pinned"));
        }

        if (f.KeyUsage is { } usage)
        {
            if ((usage & (CertificateFacts.KeyUsageDigitalSignature | CertificateFacts.KeyUsageKeyEncipherment | CertificateFacts.KeyUsageKeyAgreement)) == 0)
            {
                problems.Add(new(MasterConnectionError.WrongKeyUsage,
                    $"{who} has a keyUsage without digitalSignature, keyEncipherment or keyAgreement, so it cannot be used for TLS",
                    "re-issue the master certificate with keyUsage = digitalSignature, keyEncipherment (or without keyUsage)"));
            }

            if (!f.IsCertificateAuthority && (usage & (CertificateFacts.KeyUsageKeyCertSign | CertificateFacts.KeyUsageCrlSign)) != 0)
            {
                problems.Add(new(MasterConnectionError.WrongKeyUsage,
                    $"{who} is not a CA but its keyUsage allows signing certificates or CRLs (keyCertSign/cRLSign)",
                    "re-issue the master certificate with keyUsage = digitalSignature, keyEncipherment"));
            }
        }

        if (f.ExtendedKeyUsages is { } anyUsage && anyUsage.Contains(AnyExtendedKeyUsageOid) && anyUsage.Contains(CertificateNames.ServerAuthOid) && !leafIsAnchor)
        {
            problems.Add(new(MasterConnectionError.WrongKeyUsage,
                $"{who} lists anyExtendedKeyUsage, which lets it act for every purpose (CA/Browser Forum 7.1.2.7.10 forbids it in server certificates)",
                "re-issue the master certificate with extendedKeyUsage = serverAuth only"));
        }

        if (f.ExtendedKeyUsages is { } ekus && !ekus.Contains(CertificateNames.ServerAuthOid))
        {
            problems.Add(new(MasterConnectionError.WrongKeyUsage,
                ekus.Count == 1 && ekus[0] == AnyExtendedKeyUsageOid
                    ? $"{who} has only the anyExtendedKeyUsage purpose, not TLS server authentication (serverAuth)"
                    : $"{who} has an extended key usage without TLS server authentication (serverAuth)",
                "re-issue the master certificate with extendedKeyUsage = serverAuth"));
        }

        if (f.NameConstraints is not null && !f.IsCertificateAuthority)
        {
            problems.Add(new(MasterConnectionError.NameConstraintViolation,
                $"{who} carries name constraints, which only a CA certificate may have", ReissueFix));
        }

        if (f.SubjectIsEmpty && (!f.HasSubjectAlternativeName || !f.SubjectAlternativeNameCritical))
        {
            problems.Add(new(MasterConnectionError.MalformedCertificate,
                $"{who} has {(f.HasSubjectAlternativeName ? "a non-critical" : "no")} subject alternative name extension (RFC 5280 4.2.1.6 requires a critical one when the subject is empty)", ReissueFix));
        }

        // A DNS name that is not a valid host name (an underscore, a space, a leading dot, a partial wildcard, an address
        // written as DNS:10.0.0.5) never matches anything, as in OpenSSL, Go and browsers; under a CA with name
        // constraints it is a violation (it cannot be judged).
        CheckName(f, who, expectedName, problems);
    }

    private static void CheckName(CertificateFacts f, string who, string expectedName, List<CertificateProblem> problems)
    {
        var (dns, address) = HostNames.Normalize(expectedName);
        var publicSuffix = default(string);
        if (address is null && !HostNames.IsValidHostName(dns!, allowWildcard: false))
        {
            problems.Add(new(MasterConnectionError.NameMismatch,
                $"the name verified, '{SafeText.Ascii(expectedName)}', is not a valid host name or IP address, so no certificate can match it",
                $"connect with a URL whose host is the master's DNS name or IP address, or set {Messages.CertNameSetting} to one"));
            return;
        }

        if (address is not null)
        {
            foreach (var candidate in f.IPAddresses)
            {
                if (candidate.AsSpan().SequenceEqual(address))
                {
                    return;
                }
            }
        }
        else
        {
            foreach (var candidate in f.DnsNames)
            {
                if (!HostNames.IsValidHostName(candidate, allowWildcard: true))
                {
                    continue;
                }

                if (HostNames.Matches(candidate, dns!, out var suffix))
                {
                    return;
                }

                publicSuffix ??= suffix ? candidate : null;
            }
        }

        var names = f.DnsNames.Select(n => HostNames.IsValidHostName(n, allowWildcard: true) ? n : $"{SafeText.Ascii(n)} (not a valid host name, never matched)").Concat(f.IPAddresses.Select(HostNames.Format)).ToList();
        var suggestion = names.FirstOrDefault(n => !n.StartsWith('*')) ?? "<a name in the certificate>";
        var detail = $"{who} is not valid for '{SafeText.Ascii(expectedName)}'; its names are: {(names.Count == 0 ? "none (no subject alternative names; CN-only certificates are not accepted)" : string.Join(", ", names))}";
        if (publicSuffix is not null)
        {
            detail += $" ('{SafeText.Ascii(publicSuffix)}' is a wildcard over a public suffix, which never matches)";
        }

        problems.Add(new(MasterConnectionError.NameMismatch, detail,
            names.Count == 0 || publicSuffix is not null
                ? "re-issue the master certificate with the master's DNS name or IP address as a subject alternative name"
                : $"connect with a URL whose host is one of those names, or set the expected name with {Messages.CertNameSetting} to '{suggestion}'"));
    }

    private static void CheckAuthority(CertificateFacts f, string who, bool isAnchor, List<CertificateProblem> problems)
    {
        const string CaFix = "re-issue the CA certificate with basicConstraints = critical, CA:TRUE and keyUsage = keyCertSign, cRLSign, then pin it";

        // A self-signed version-1 trust anchor (no extensions at all: 'openssl x509 -req -signkey' tutorial CAs) is a CA
        // by being trusted, as OpenSSL and Go decide; a v3 certificate must say CA:TRUE.
        var v1Anchor = isAnchor && f.SelfIssued && f.Version == 0;
        if (!v1Anchor && (!f.HasBasicConstraints || !f.IsCertificateAuthority))
        {
            problems.Add(new(MasterConnectionError.InvalidChain, $"{who} signed the certificate below it but is not a CA (basicConstraints CA:TRUE {(f.HasBasicConstraints ? "is false" : "is missing")})", CaFix));
        }

        if (f.KeyUsage is { } usage && (usage & CertificateFacts.KeyUsageKeyCertSign) == 0)
        {
            problems.Add(new(MasterConnectionError.InvalidChain, $"{who} has a keyUsage without keyCertSign, so it may not sign certificates", CaFix));
        }

        if (f.SubjectIsEmpty)
        {
            problems.Add(new(MasterConnectionError.MalformedCertificate, $"{who} may not sign certificates (RFC 5280 4.1.2.6: a CA's subject is never empty)", CaFix));
        }

        if (f.PolicyConstraintsNonCritical)
        {
            problems.Add(new(MasterConnectionError.MalformedCertificate, $"{who} has a policy constraints extension that is not marked critical (RFC 5280 4.2.1.11)", CaFix));
        }

        if (f.NameConstraints is { Critical: false })
        {
            problems.Add(new(MasterConnectionError.NameConstraintViolation, $"{who} has name constraints that are not marked critical (RFC 5280 4.2.1.10 requires critical), so other verifiers may ignore them", "re-issue the CA certificate with nameConstraints = critical, …"));
        }
    }

    /// <summary>Every DNS and IP name of the leaf against the name constraints of every CA above it; a wildcard is judged by every name it can match.</summary>
    private static void CheckNameConstraints(IReadOnlyList<X509Certificate2> path, IReadOnlyList<CertificateFacts> facts, List<CertificateProblem> problems)
    {
        var leaf = facts[0];
        var names = leaf.DnsNames.Count + leaf.IPAddresses.Count;
        var cost = 0L;
        for (var i = 1; i < facts.Count; i++)
        {
            cost += (long)names * (facts[i].NameConstraints?.Count ?? 0);
        }

        if (cost > MaxNameConstraintComparisons)
        {
            problems.Add(new(MasterConnectionError.NameConstraintViolation,
                $"the chain needs {cost} name-constraint comparisons ({names} names in the server certificate); more than {MaxNameConstraintComparisons} are refused as a denial-of-service pattern",
                "issue the master a certificate with only the names it serves, from a CA with a short constraint list"));
            return;
        }

        for (var i = 1; i < facts.Count; i++)
        {
            if (facts[i].Malformed is not null || facts[i].NameConstraints is not { } constraints)
            {
                continue;
            }

            var who = Describe(path[i], i, isAnchor: false);
            foreach (var dns in leaf.DnsNames)
            {
                var why = HostNames.IsValidHostName(dns, allowWildcard: true)
                    ? DnsViolation(dns, constraints)
                    : constraints.PermittedDns is not null || constraints.ExcludedDns.Count > 0 ? "is not a valid host name, so it cannot be judged against the DNS name constraints" : null;
                if (why is not null)
                {
                    problems.Add(new(MasterConnectionError.NameConstraintViolation,
                        $"the server certificate's name '{SafeText.Ascii(dns)}' {why} of {who}",
                        "issue the master certificate only for names the CA is allowed to certify (or use a CA without that constraint)"));
                    return;
                }
            }

            foreach (var ip in leaf.IPAddresses)
            {
                if (IPViolation(ip, constraints) is { } why)
                {
                    problems.Add(new(MasterConnectionError.NameConstraintViolation,
                        $"the server certificate's address {HostNames.Format(ip)} {why} of {who}",
                        "issue the master certificate only for addresses the CA is allowed to certify (or use a CA without that constraint)"));
                    return;
                }
            }
        }
    }

    private static string? DnsViolation(string name, NameConstraintSet constraints)
    {
        var wildcard = name.StartsWith("*.", StringComparison.Ordinal);
        var baseName = wildcard ? name[2..] : name;
        foreach (var excluded in constraints.ExcludedDns)
        {
            // A wildcard covers every name one label below its base: it violates an exclusion that contains its base, or
            // that is itself one of the names it matches (*.example.com can be bar.example.com).
            if (HostNames.IsWithin(baseName, excluded) || (wildcard && IsOneLabelBelow(excluded, baseName)))
            {
                return string.Create(CultureInfo.InvariantCulture, $"{(wildcard ? "can match a name that is" : "is")} excluded by the constraint '{excluded}'");
            }
        }

        if (constraints.PermittedDns is { } permitted && !permitted.Any(p => HostNames.IsWithin(baseName, p)))
        {
            return $"{(wildcard ? "can match names that are" : "is")} outside the permitted names ({string.Join(", ", permitted)})";
        }

        return null;
    }

    private static bool IsOneLabelBelow(string name, string domain) =>
        name.Length > domain.Length + 1 && HostNames.IsWithin(name, domain) && name.IndexOf('.', StringComparison.Ordinal) == name.Length - domain.Length - 1;

    private static string? IPViolation(byte[] address, NameConstraintSet constraints)
    {
        foreach (var (range, mask) in constraints.ExcludedIPs)
        {
            if (InRange(address, range, mask))
            {
                return $"is excluded by the constraint {HostNames.Format(range)}/{PrefixLength(mask)}";
            }
        }

        if (constraints.PermittedIPs is { } permitted && !permitted.Any(p => InRange(address, p.Address, p.Mask)))
        {
            return $"is outside the permitted ranges ({string.Join(", ", permitted.Select(p => $"{HostNames.Format(p.Address)}/{PrefixLength(p.Mask)}"))})";
        }

        return null;
    }

    private static bool InRange(byte[] address, byte[] range, byte[] mask)
    {
        // ::ffff:10.0.0.5 reaches 10.0.0.5: an IPv4 range judges an IPv4-mapped address by its IPv4 part.
        if (address.Length == 16 && range.Length == 4)
        {
            address = HostNames.Unmap(address);
        }

        if (address.Length != range.Length)
        {
            return false;
        }

        for (var i = 0; i < address.Length; i++)
        {
            if ((address[i] & mask[i]) != (range[i] & mask[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static int PrefixLength(byte[] mask) => mask.Sum(b => System.Numerics.BitOperations.PopCount(b));

    private static string? WeakSignature(string oid) => oid switch
    {
        "1.2.840.113549.1.1.2" => "MD2 with RSA",
        "1.2.840.113549.1.1.3" => "MD4 with RSA",
        "1.2.840.113549.1.1.4" => "MD5 with RSA",
        "1.2.840.113549.1.1.5" or "1.3.14.3.2.29" => "SHA-1 with RSA",
        "1.2.840.10045.4.1" => "ECDSA with SHA-1",
        "1.2.840.10040.4.3" => "DSA with SHA-1",
        "2.16.840.1.101.3.4.3.1" or "2.16.840.1.101.3.4.3.2" or "2.16.840.1.101.3.4.3.3" or "2.16.840.1.101.3.4.3.4" => "DSA",
        _ => null,
    };
}
