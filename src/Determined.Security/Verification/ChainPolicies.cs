using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// The one place chain policies are made (the BannedApiAnalyzers rule in eng/BannedSymbols.txt refuses
/// <c>new X509ChainPolicy()</c> anywhere else). Every policy shares two rules: nothing is ever fetched from the URLs a
/// certificate names (a master must send its chain; a hostile chain could make every build wait on an address of its
/// choosing), and revocation lists are fetched only when revocation is checked (.NET has one switch for CRLs and issuer
/// downloads, so <see cref="TlsOptions.CheckCertificateRevocation"/> enables both: docs/SECURITY-PROFILE.md rule 18a).
/// </summary>
internal static class ChainPolicies
{
    private static readonly Oid s_serverAuth = new(CertificateNames.ServerAuthOid);

    /// <summary>Only <paramref name="roots"/> are anchors; the chain must allow TLS server authentication.</summary>
    /// <param name="roots">The pinned certificates (or the roots that stand in for the system's in tests).</param>
    /// <param name="checkRevocation">Whether revocation is checked online.</param>
    public static X509ChainPolicy Pinned(X509Certificate2Collection roots, bool checkRevocation)
    {
#pragma warning disable RS0030 // The one owner of chain policies.
        var policy = new X509ChainPolicy
#pragma warning restore RS0030
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = checkRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
            DisableCertificateDownloads = !checkRevocation,
        };
        policy.CustomTrustStore.AddRange(roots);
        policy.ApplicationPolicy.Add(s_serverAuth);
        return policy;
    }

    /// <summary>The operating system's trusted roots (or, in tests, the <paramref name="rootsOverride"/> standing in for them).</summary>
    /// <param name="checkRevocation">Whether revocation is checked online.</param>
    /// <param name="rootsOverride">For tests: the roots that stand in for the system store; <see langword="null"/> for the real store.</param>
    /// <param name="now">The time the chain is judged at; <see langword="null"/> for the platform's default.</param>
    public static X509ChainPolicy System(bool checkRevocation, X509Certificate2Collection? rootsOverride, DateTimeOffset? now = null)
    {
        X509ChainPolicy policy;
        if (rootsOverride is not null)
        {
            policy = Pinned(rootsOverride, checkRevocation);
        }
        else
        {
#pragma warning disable RS0030 // The one owner of chain policies.
            policy = new X509ChainPolicy
#pragma warning restore RS0030
            {
                RevocationMode = checkRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
                DisableCertificateDownloads = !checkRevocation,
            };
            policy.ApplicationPolicy.Add(s_serverAuth);
        }

        if (now is { } time)
        {
            policy.VerificationTime = time.UtcDateTime;
        }

        return policy;
    }

    /// <summary>
    /// For a handshake whose chain is not judged by the platform (skip-verification, the certificate probe): the platform
    /// still builds a chain before the callback runs, and it must not fetch anything for it.
    /// </summary>
    public static X509ChainPolicy CaptureOnly()
    {
#pragma warning disable RS0030 // The one owner of chain policies.
        return new X509ChainPolicy { RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
#pragma warning restore RS0030
    }

    /// <summary>
    /// Links certificates by signature only (trust on first use keeps the part of a presented chain that is linked to its
    /// leaf): no anchor, no revocation, no downloads, dates not judged.
    /// </summary>
    /// <param name="others">The certificates that may be linked to the leaf; none of them becomes an anchor.</param>
    public static X509ChainPolicy LinkOnly(IEnumerable<X509Certificate2> others)
    {
#pragma warning disable RS0030 // The one owner of chain policies.
        var policy = new X509ChainPolicy
#pragma warning restore RS0030
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
            VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid,
        };
        policy.ExtraStore.AddRange(others.ToArray());
        return policy;
    }
}
