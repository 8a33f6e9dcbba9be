// The task program of the "startup" benchmark: process start to the first authenticated HTTPS GET of /api/v1/me, configured
// only by what a Determined task container injects (DET_MASTER, DET_MASTER_CERT_FILE, DET_MASTER_CERT_NAME, DET_USER_TOKEN).
//   sdk:    DeterminedClient.FromEnvironment() and GetCurrentUserAsync().
//   bare:   the best a user could write by hand: SocketsHttpHandler + CertificateChainPolicy trusting the same CA, the same
//           request with the same name override (Host header → SNI), and the username read from the JSON answer.
//   phases: where the SDK's start-up time goes, phase by phase (wall clock, JIT time and methods, assemblies loaded), after
//           two bare requests have warmed the runtime, OpenSSL and the HTTP stack (BENCH_SDK_FIRST=1 skips them).
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Determined.Sdk;
using Determined.Security;

#pragma warning disable RS0030 // A hand-written program reads the environment itself.
static string? Env(string name) => Environment.GetEnvironmentVariable(name);
#pragma warning restore RS0030

switch (args.Length == 1 ? args[0] : string.Empty)
{
    case "sdk":
        return await SdkAsync() ? 0 : 1;
    case "bare":
        return await BareAsync() ? 0 : 1;
    case "phases":
        return await PhasesAsync() ? 0 : 1;
    default:
        Console.Error.WriteLine("usage: Determined.Benchmarks.StartupTask sdk|bare|phases (configured by DET_MASTER, DET_MASTER_CERT_FILE, DET_MASTER_CERT_NAME, DET_USER_TOKEN)");
        return 2;
}

static async Task<bool> SdkAsync()
{
    using var client = DeterminedClient.FromEnvironment();
    var me = await client.GetCurrentUserAsync();
    return me.Username is { Length: > 0 };
}

static async Task<bool> BareAsync()
{
    var master = new Uri(Env("DET_MASTER")!);
    var name = Env("DET_MASTER_CERT_NAME");
    var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
    policy.CustomTrustStore.ImportFromPemFile(Env("DET_MASTER_CERT_FILE")!);
    using var http = new HttpClient(new SocketsHttpHandler { SslOptions = { CertificateChainPolicy = policy } });
    using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(master, "/api/v1/me"));
    if (!string.IsNullOrEmpty(name))
    {
        request.Headers.Host = master.IsDefaultPort ? name : $"{name}:{master.Port}";
    }

    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Env("DET_USER_TOKEN"));
    using var response = await http.SendAsync(request);
    using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
    return response.IsSuccessStatusCode && document.RootElement.GetProperty("user").GetProperty("username").GetString() is { Length: > 0 };
}

static async Task<bool> PhasesAsync()
{
    var watch = Stopwatch.StartNew();
    var jitTime = System.Runtime.JitInfo.GetCompilationTime();
    var jitCount = System.Runtime.JitInfo.GetCompiledMethodCount();
    var assemblies = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name!).ToHashSet();
    Console.Error.WriteLine($"{(DateTime.Now - Process.GetCurrentProcess().StartTime).TotalMilliseconds,7:0.0} ms  process start to Main (JIT so far {jitTime.TotalMilliseconds:0.0} ms, {jitCount} methods)");
    void Mark(string what)
    {
        var time = System.Runtime.JitInfo.GetCompilationTime() - jitTime;
        var count = System.Runtime.JitInfo.GetCompiledMethodCount() - jitCount;
        var loaded = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name!).Where(n => !assemblies.Contains(n)).Order().ToList();
        Console.Error.WriteLine($"{watch.Elapsed.TotalMilliseconds,7:0.0} ms  (JIT {time.TotalMilliseconds,5:0.0} ms, {count,4} methods)  {what}{(loaded.Count > 0 ? "\n          + " + string.Join(", ", loaded) : string.Empty)}");
        assemblies.UnionWith(loaded);
        jitTime = System.Runtime.JitInfo.GetCompilationTime();
        jitCount = System.Runtime.JitInfo.GetCompiledMethodCount();
        watch.Restart();
    }

    if (Env("BENCH_SDK_FIRST") is null)
    {
        var ok = await BareAsync();
        Mark("bare request (warms the runtime, OpenSSL and the HTTP stack)");
        ok &= await BareAsync();
        Mark("bare request again (new HttpClient and connection: the floor for the SDK's first request)");
        if (!ok)
        {
            return false;
        }
    }

    var settings = DeterminedConnectionSettings.Resolve(new DeterminedClientOptions());
    Mark("DeterminedConnectionSettings.Resolve (environment, TLS files, TlsPolicy)");
    var handler = new MasterHttpHandlerFactory(new CertificateTrustResolver(settings.Tls)).CreateHandler(settings.MasterUri);
    Mark("TlsPolicy + CertificateTrustResolver + CreateHandler");
    using var http = new HttpClient(handler) { BaseAddress = settings.MasterUri };
    using var client = new DeterminedClient(http, settings);
    Mark("HttpClient + DeterminedClient");
    var me = await client.GetCurrentUserAsync();
    Mark("first GetCurrentUserAsync (new connection)");
    await client.GetCurrentUserAsync();
    Mark("second GetCurrentUserAsync");
    return me.Username is { Length: > 0 };
}
