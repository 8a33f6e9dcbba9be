using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Determined.Testing;

/// <summary>
/// Whether this process runs under Wine (the Windows leg, eng/windows-leg.sh), and the one thing Wine cannot do that these
/// tests need: its CNG (Wine 8) neither creates nor imports private keys (<c>NCryptCreatePersistedKey</c> and the import
/// fail with NTE_NOT_SUPPORTED, 0x80090029, or STATUS_NOT_IMPLEMENTED, 0xC1000002). A test that makes keys in-process is
/// therefore skipped under Wine with that behaviour named (it runs on Windows itself); the Windows-specific cases use keys
/// made on Linux (<c>WindowsLegTests</c>).
/// </summary>
public static class Wine
{
    /// <summary>Trait <c>Wine</c>: the product itself makes keys in this test.</summary>
    public const string ProductMakesKeys = "the product makes keys here (e.g. DevelopmentCertificateAuthority): Wine's CNG refuses them; runs on Windows itself";

    /// <summary>Trait <c>Wine</c>: the test drives a Linux program.</summary>
    public const string RunsLinuxProgram = "starts a Linux program (openssl, python3, mkfifo): Wine has no such Windows program, and gives .NET no handle to a Linux one";

    /// <summary>Trait <c>Windows</c>: what the test checks is Unix's own (FIFOs, devices, /proc).</summary>
    public const string UnixFileKinds = "FIFOs, devices and /proc are Unix file kinds";

    /// <summary>Trait <c>Windows</c>: the Linux rule for the configuration directory.</summary>
    public const string XdgRule = "XDG_CONFIG_HOME is the Linux rule; Windows uses %LOCALAPPDATA%, checked by WindowsLegTests";

    /// <summary>Gets Wine's version (<c>wine_get_version</c> in its ntdll), or null when this is not Wine.</summary>
    public static string? Version { get; } = ReadVersion();

    public static bool IsRunning => Version is not null;

    /// <summary>
    /// Runs a key operation; under Wine a <see cref="CryptographicException"/> from it becomes a skip that says what Wine
    /// did. Anywhere else the exception is the test's failure.
    /// </summary>
    public static T Keys<T>(Func<T> operation, string what = "create a private key")
    {
        if (s_refused is { } known)
        {
            throw Skip(known);
        }

        if (Environment.GetEnvironmentVariable("DET_TEST_AS_UNDER_WINE") == "1")
        {
            throw Skip("as under Wine (DET_TEST_AS_UNDER_WINE=1): no private key is made in-process");
        }

        try
        {
            return operation();
        }
        catch (CryptographicException ex) when (IsRunning)
        {
            // Asked once: after a refusal Wine's CNG may never answer the next call (seen: the second test of a class hung).
            s_refused = $"Wine {Version}'s CNG cannot {what} ({ex.Message}); this test makes its keys in-process and runs on Windows itself, not under Wine";
            throw Skip(s_refused);
        }
    }

    private static volatile string? s_refused;

    /// <summary>An exception xunit reports as a skip with <paramref name="reason"/> (its dynamic-skip contract).</summary>
    public static Exception Skip(string reason) =>
#if XUNIT
        new InvalidOperationException(Xunit.v3.DynamicSkipToken.Value + reason);
#else
        new PlatformNotSupportedException(reason);
#endif

    private delegate IntPtr WineGetVersion();

    private static string? ReadVersion()
    {
        if (!OperatingSystem.IsWindows()
            || !NativeLibrary.TryLoad("ntdll.dll", out var ntdll)
            || !NativeLibrary.TryGetExport(ntdll, "wine_get_version", out var export))
        {
            return null;
        }

        return Marshal.PtrToStringAnsi(Marshal.GetDelegateForFunctionPointer<WineGetVersion>(export)()) ?? "(unknown version)";
    }
}

/// <summary>Every key a test makes, made here so that Wine's refusal is a named skip (<see cref="Wine.Keys"/>).</summary>
public static class TestKeys
{
    public static ECDsa Ec(ECCurve curve) => Wine.Keys(() => ECDsa.Create(curve));

    public static ECDsa EcP256() => Ec(ECCurve.NamedCurves.nistP256);

    public static RSA Rsa(int bits) => Wine.Keys(() => RSA.Create(bits));
}
