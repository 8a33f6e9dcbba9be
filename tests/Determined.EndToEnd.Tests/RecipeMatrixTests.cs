using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Determined.Security;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// The certificates people actually deploy, through every trust path, judged by upstream's own clients. Each recipe of
/// <c>tests/Oracles/recipes.py</c> (the openssl one-liners, an OpenSSL CA with and without extfile, mkcert, cert-manager,
/// step-ca, Vault, Let's Encrypt, easy-rsa, keytool, an enterprise CA, dotnet dev-certs, Go's generate_cert, upstream's own
/// CI and test certificates; made at test time) is served exactly as its tool wrote it by <c>openssl s_server</c>, and
/// every path is tried with this SDK and with an oracle of what Determined's Python client (<c>python_client.py</c>:
/// requests/OpenSSL the way certs.py and the CLI's trust on first use use them) or Go agent (<c>go-agent</c>: crypto/tls
/// with the pinned roots as agent.go builds them) decides. The rule: whatever upstream accepts, we accept, unless the
/// cell is a listed exception with its reason (none of them may be a recipe a tool makes by default). The matrix is
/// written to artifacts/compatibility-matrix.md and docs/COMPATIBILITY.md shows it.
/// </summary>
public sealed class RecipeMatrixTests(RecipeMatrixTests.Corpus corpus, ITestOutputHelper output) : IClassFixture<RecipeMatrixTests.Corpus>
{
    private const string Name = "localhost";

    /// <summary>The trust paths, with the upstream client that has each path.</summary>
    private static readonly (string Path, string Oracle, string What)[] Paths =
    [
        ("tofu-prompt", "python", "trust on first use, prompt answered y (Python: the CLI's prompt, stored chain, retry)"),
        ("tofu-fingerprint", "python", "trust by SHA-256 fingerprint (--trust-fingerprint; upstream has only the prompt)"),
        ("tofu-spki", "python", "trust by SPKI pin (upstream has only the prompt)"),
        ("file-leaf", "python", "DET_MASTER_CERT_FILE = the leaf"),
        ("file-ca", "python", "DET_MASTER_CERT_FILE = the CA (root)"),
        ("file-served", "python", "DET_MASTER_CERT_FILE = the file the master serves, as the tool wrote it"),
        ("system-store", "python", "the CA in the system store (SSL_CERT_FILE; Python: certifi plus the CA); det tls doctor's verdict"),
        ("agent-ca", "go", "agent security.tls.master_cert = the CA (PinnedOnly)"),
        ("agent-served", "go", "agent security.tls.master_cert = the master's certificate file (PinnedOnly)"),
        ("task-by-ip", "python", "a task: the agent-written certificate file, the master dialled by IP, DET_MASTER_CERT_NAME"),
        ("changed-key", "python", "trusted on first use, then the master's key is replaced (ours: refused as changed unless the stored CA vouches for the new leaf)"),
    ];

    /// <summary>
    /// Cells where upstream accepts and this SDK refuses, on purpose. Each reason is documented in docs/COMPATIBILITY.md;
    /// no recipe a tool makes by default may be refused on a path a user of that tool takes, except for a changed key.
    /// </summary>
    private static readonly Dictionary<string, string> Exceptions = new(StringComparer.Ordinal)
    {
        ["*/changed-key"] = "a new key for a master trusted on first use is refused with both fingerprints (SSH-style: it may be an interception); upstream's CLI silently prompts again",
    };

    [Fact]
    public async Task EveryRecipe_ThroughEveryTrustPath_IsAcceptedWhereverUpstreamAccepts()
    {
        var cells = new ConcurrentDictionary<(string Recipe, string Path), Cell>();
        using var gate = new SemaphoreSlim(3);
        await Task.WhenAll(corpus.Recipes.Select(async recipe =>
        {
            await gate.WaitAsync();
            try
            {
                foreach (var (path, cell) in await JudgeAsync(recipe))
                {
                    cells[(recipe.Id, path)] = cell;
                }
            }
            finally
            {
                gate.Release();
            }
        })).WaitAsync(TimeSpan.FromMinutes(10));

        var matrix = Matrix(cells);
        output.WriteLine(matrix);
        var artifacts = Path.Combine(ChildProcess.RepoRoot(), "artifacts");
        Directory.CreateDirectory(artifacts);
        await File.WriteAllTextAsync(Path.Combine(artifacts, "compatibility-matrix.md"), matrix);

        var violations = new List<string>();
        foreach (var ((recipeId, path), cell) in cells.OrderBy(c => c.Key.Recipe, StringComparer.Ordinal).ThenBy(c => c.Key.Path, StringComparer.Ordinal))
        {
            if (!cell.Upstream || cell.Ours)
            {
                continue;
            }

            var recipe = corpus.Recipes.Single(r => r.Id == recipeId);
            if (ExceptionFor(recipeId, path) is null)
            {
                violations.Add($"{recipeId} / {path}: upstream accepts ({cell.UpstreamDetail}), we refuse ({cell.OursDetail})");
            }
            else if (recipe.Default && path != "changed-key")
            {
                violations.Add($"{recipeId} / {path}: a tool's default recipe is refused (listed exception, but defaults may not be)");
            }
        }

        Assert.True(violations.Count == 0, $"{violations.Count} cells where upstream accepts and we refuse:\n{string.Join('\n', violations)}\n\n{matrix}");

        // The recipe the issue started from: the one-liner master works through the prompt, a fingerprint and a key change.
        foreach (var path in new[] { "tofu-prompt", "tofu-fingerprint", "tofu-spki", "file-served", "agent-served" })
        {
            Assert.True(cells[("openssl-req-x509-ec", path)].Ours, $"openssl req -x509 (EC) via {path}: {cells[("openssl-req-x509-ec", path)].OursDetail}");
        }

        Assert.Contains("CertificateChanged", cells[("openssl-req-x509-ec", "changed-key")].OursDetail, StringComparison.Ordinal);
    }

    private static string? ExceptionFor(string recipe, string path) =>
        Exceptions.GetValueOrDefault($"{recipe}/{path}") ?? Exceptions.GetValueOrDefault($"*/{path}");

    private async Task<List<(string Path, Cell Cell)>> JudgeAsync(Recipe recipe)
    {
        var results = new List<(string, Cell)>();
        using var server = await recipe.ServeAsync(rekeyed: false);
        var url = new Uri($"https://{Name}:{server.Uri.Port}");
        var byIp = new Uri($"https://127.0.0.1:{server.Uri.Port}");
        var leaf = X509CertificateLoader.LoadCertificate(recipe.Certificates("leaf.pem")[0].RawData);
        var scratch = Directory.CreateTempSubdirectory("det-matrix-" + recipe.Id + "-").FullName;
        try
        {
            async Task Add(string path, Func<Task<(bool, string)>> ours, Func<Task<(bool, string)>> upstream)
            {
                var (o, od) = await Ours(ours);
                var (u, ud) = await upstream();
                results.Add((path, new Cell(u, ud, o, od)));
            }

            await Add("tofu-prompt", () => TofuAsync(url, Path.Combine(scratch, "p"), null), () => Corpus.PythonAsync(url, tofu: Path.Combine(scratch, "py-p")));
            await Add("tofu-fingerprint", () => TofuAsync(url, Path.Combine(scratch, "f"), CertificatePin.Parse(CertificatePin.Sha256Fingerprint(leaf))), () => Corpus.PythonAsync(url, tofu: Path.Combine(scratch, "py-f")));
            await Add("tofu-spki", () => TofuAsync(url, Path.Combine(scratch, "s"), CertificatePin.Parse(CertificatePin.SpkiPin(leaf))), () => Corpus.PythonAsync(url, tofu: Path.Combine(scratch, "py-s")));
            await Add("file-leaf", () => GetAsync(url, new TlsOptions { MasterCertificateFile = recipe.File("leaf.pem") }), () => Corpus.PythonAsync(url, certFile: recipe.File("leaf.pem")));
            await Add("file-ca", () => GetAsync(url, new TlsOptions { MasterCertificateFile = recipe.File("root.pem") }), () => Corpus.PythonAsync(url, certFile: recipe.File("root.pem")));
            await Add("file-served", () => GetAsync(url, new TlsOptions { MasterCertificateFile = recipe.File("served.pem") }), () => Corpus.PythonAsync(url, certFile: recipe.File("served.pem")));
            await Add("system-store", () => DoctorWithSystemStoreAsync(url, recipe.File("root.pem"), scratch), () => Corpus.PythonAsync(url, certFile: recipe.File("root.pem")));
            await Add("agent-ca", () => GetAsync(url, new TlsOptions { MasterCertificateFile = recipe.File("root.pem"), TrustMode = MasterTrustMode.PinnedOnly }), () => corpus.GoAgentAsync(server.Uri.Port, recipe.File("root.pem"), null));
            await Add("agent-served", () => GetAsync(url, new TlsOptions { MasterCertificateFile = recipe.File("served.pem"), TrustMode = MasterTrustMode.PinnedOnly }), () => corpus.GoAgentAsync(server.Uri.Port, recipe.File("served.pem"), null));

            // What the agent writes for a task is the master's served chain, every certificate as PEM (the sample master's ChainPem).
            var agentWritten = Path.Combine(scratch, "master.crt");
            await File.WriteAllTextAsync(agentWritten, TestCertificates.Pem([.. recipe.Certificates("served.pem")]));
            await Add("task-by-ip", () => GetAsync(byIp, new TlsOptions { MasterCertificateFile = agentWritten, MasterCertificateName = Name }), () => Corpus.PythonAsync(byIp, certFile: agentWritten, certName: Name));

            // Trusted on first use, then the key changes (same URL: the stored chain is carried over to the new server's port).
            using var rekeyed = await recipe.ServeAsync(rekeyed: true);
            var newUrl = new Uri($"https://{Name}:{rekeyed.Uri.Port}");
            var storedPem = TestCertificates.Pem([.. recipe.Certificates("served.pem")]);
            var pyStore = Path.Combine(scratch, "py-k");
            Directory.CreateDirectory(pyStore);
            await File.WriteAllTextAsync(Path.Combine(pyStore, "stored.pem"), storedPem);
            await Add("changed-key", () => ChangedKeyAsync(newUrl, Path.Combine(scratch, "k"), storedPem), () => Corpus.PythonAsync(newUrl, tofu: pyStore));
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        return results;
    }

    private static async Task<(bool, string)> Ours(Func<Task<(bool, string)>> check)
    {
        try
        {
            return await check();
        }
        catch (MasterConnectionException ex)
        {
            return (false, ex.Error.ToString());
        }
        catch (DeterminedException ex)
        {
            return (false, ex.GetType().Name + ": " + ex.Message);
        }
    }

    private static async Task<(bool, string)> GetAsync(Uri url, TlsOptions options)
    {
        using var http = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Create(options))).CreateHandler(url)) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.GetAsync("/info");
        return (true, "ok");
    }

    private static async Task<(bool, string)> TofuAsync(Uri url, string configDir, CertificatePin? pin)
    {
        var tofu = new TrustOnFirstUse(new MasterCertificateStore(configDir))
        {
            ExpectedPin = pin,
            Prompt = pin is null ? (_, _) => ValueTask.FromResult(true) : null,
        };
        return await tofu.ExecuteAsync(url, TlsPolicy.Default, (policy, _) => GetAsync(url, CopyTrust(policy)));
    }

    private static async Task<(bool, string)> ChangedKeyAsync(Uri url, string configDir, string storedPem)
    {
        var store = new MasterCertificateStore(configDir);
        store.Set(MasterAddress.Canonicalize(url), storedPem);
        var tofu = new TrustOnFirstUse(store) { Prompt = (_, _) => throw new InvalidOperationException("a trusted master is never prompted for again") };
        return await tofu.ExecuteAsync(url, TlsPolicy.Default, (policy, _) => GetAsync(url, CopyTrust(policy)));
    }

    /// <summary>The trust of a policy trust on first use handed back (the stored chain as inline PEM), as options.</summary>
    private static TlsOptions CopyTrust(TlsPolicy policy) => new()
    {
        MasterCertificatePem = policy.PinnedCertificates.Count == 0 ? null : TestCertificates.Pem([.. policy.PinnedCertificates]),
        MasterCertificateName = policy.MasterCertificateName,
    };

    /// <summary>The sample CLI's doctor in a process whose system store is the CA (SSL_CERT_FILE): its verdict.</summary>
    private static async Task<(bool, string)> DoctorWithSystemStoreAsync(Uri url, string caFile, string scratch)
    {
        var environment = CleanEnvironment();
        environment["SSL_CERT_FILE"] = caFile;
        environment["DET_DEBUG_CONFIG_PATH"] = Path.Combine(scratch, "doctor");
        var run = await ChildProcess.RunAsync("dotnet", [ChildProcess.ProjectDll("samples/Determined.Samples.Cli", "det"), "-m", url.ToString(), "tls", "doctor", "--json"], environment, timeout: TimeSpan.FromSeconds(90));
        var report = JsonNode.Parse(run.Stdout.Length > 0 ? run.Stdout : "{}")!;
        return ((string?)report["verdict"] == "OK", (string?)report["error"] ?? (string?)report["verdict"] ?? run.Stderr);
    }

    private static Dictionary<string, string?> CleanEnvironment()
    {
        var environment = new Dictionary<string, string?>();
#pragma warning disable RS0030 // the child's environment, not the SDK's settings
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("DET", StringComparison.Ordinal) || k.EndsWith("_PROXY", StringComparison.OrdinalIgnoreCase) || k is "SSL_CERT_DIR"))
#pragma warning restore RS0030
        {
            environment[key] = null;
        }

        return environment;
    }

    private string Matrix(ConcurrentDictionary<(string Recipe, string Path), Cell> cells)
    {
        var text = new StringBuilder();
        text.Append("Each cell: upstream's verdict / ours (A accepted, r refused); `!` marks a listed exception. Python oracle: ")
            .Append(corpus.PythonVersion).Append("; Go oracle: ").Append(corpus.GoVersion).Append(".\n\n");
        text.Append("| recipe | default | ").Append(string.Join(" | ", Paths.Select(p => p.Path))).Append(" |\n");
        text.Append("|---|---|").Append(string.Concat(Paths.Select(_ => "---|"))).Append('\n');
        foreach (var recipe in corpus.Recipes)
        {
            text.Append("| ").Append(recipe.Id).Append(" | ").Append(recipe.Default ? "yes" : "no");
            foreach (var (path, _, _) in Paths)
            {
                var cell = cells[(recipe.Id, path)];
                var mark = cell.Upstream && !cell.Ours && ExceptionFor(recipe.Id, path) is not null ? "!" : string.Empty;
                text.Append(" | ").Append(cell.Upstream ? 'A' : 'r').Append('/').Append(cell.Ours ? 'A' : 'r').Append(mark);
            }

            text.Append(" |\n");
        }

        text.Append("\nPaths (oracle):\n");
        foreach (var (path, oracle, what) in Paths)
        {
            text.Append("- `").Append(path).Append("` (").Append(oracle).Append("): ").Append(what).Append('\n');
        }

        text.Append("\nExceptions:\n");
        foreach (var (cell, reason) in Exceptions)
        {
            text.Append("- `").Append(cell).Append("`: ").Append(reason).Append('\n');
        }

        text.Append("\nWhere we refuse (ours):\n");
        foreach (var ((recipe, path), cell) in cells.Where(c => !c.Value.Ours).OrderBy(c => c.Key.Recipe, StringComparer.Ordinal).ThenBy(c => c.Key.Path, StringComparer.Ordinal))
        {
            text.Append("- ").Append(recipe).Append(" / ").Append(path).Append(": ").Append(cell.OursDetail).Append(" (upstream: ").Append(cell.Upstream ? "accepts" : cell.UpstreamDetail).Append(")\n");
        }

        return text.ToString();
    }

    private sealed record Cell(bool Upstream, string UpstreamDetail, bool Ours, string OursDetail);

    public sealed record Recipe(string Id, bool Default, string Directory)
    {
        public string File(string name) => Path.Combine(Directory, name);

        public X509Certificate2[] Certificates(string name, bool rekeyed = false)
        {
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(rekeyed ? Path.Combine(Directory, "rekeyed", name) : File(name));
            return [.. all];
        }

        /// <summary>The recipe's served file as the master serves it: its first certificate as the leaf, the rest in file order.</summary>
        public async Task<OpenSslServer> ServeAsync(bool rekeyed)
        {
            var dir = rekeyed ? Path.Combine(Directory, "rekeyed") : Directory;
            var served = Certificates("served.pem", rekeyed);
            var leafFile = Path.Combine(dir, "_serve-leaf.pem");
            var chainFile = Path.Combine(dir, "_serve-chain.pem");
            await System.IO.File.WriteAllTextAsync(leafFile, TestCertificates.Pem(served[0]));
            await System.IO.File.WriteAllTextAsync(chainFile, TestCertificates.Pem(served[1..]));
            return await OpenSslServer.StartFromFilesAsync(leafFile, Path.Combine(dir, "key.pem"), served.Length > 1 ? chainFile : null);
        }
    }

    /// <summary>The corpus made once for the class (recipes.py), and the Go oracle built once (go build, offline).</summary>
    public sealed class Corpus : IAsyncLifetime
    {
        private readonly string _dir = System.IO.Directory.CreateTempSubdirectory("det-recipes-").FullName;
        private string _goAgent = string.Empty;

        public IReadOnlyList<Recipe> Recipes { get; private set; } = [];

        public string PythonVersion { get; private set; } = string.Empty;

        public string GoVersion { get; private set; } = string.Empty;

        private static string Oracles => Path.Combine(ChildProcess.RepoRoot(), "tests", "Oracles");

        public async ValueTask InitializeAsync()
        {
            var generated = await ChildProcess.RunAsync("python3", [Path.Combine(Oracles, "recipes.py"), Path.Combine(_dir, "corpus")], timeout: TimeSpan.FromMinutes(5));
            Assert.True(generated.ExitCode == 0, "recipes.py failed (needs openssl, keytool, python3-cryptography): " + generated.Output);
            _goAgent = Path.Combine(_dir, "go-agent");
            var go = await ChildProcess.RunAsync("go", ["build", "-o", _goAgent, "."], new Dictionary<string, string?> { ["GOFLAGS"] = "-mod=mod", ["GOPROXY"] = "off", ["GOWORK"] = "off", ["GOTOOLCHAIN"] = "local" }, timeout: TimeSpan.FromMinutes(5), workingDirectory: Path.Combine(Oracles, "go-agent"));
            Assert.True(go.ExitCode == 0, "building the Go oracle failed (needs golang-go): " + go.Output);
            PythonVersion = (await ChildProcess.RunAsync("python3", ["-c", "import sys, ssl, requests; print(f'Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}, requests {requests.__version__}')"])).Stdout.Trim();
            GoVersion = (await ChildProcess.RunAsync("go", ["version"])).Stdout.Trim();
            var ids = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "corpus", "recipes.json")))!.AsArray().Select(n => (string)n!).ToList();
            Recipes = ids.Select(id =>
            {
                var dir = Path.Combine(_dir, "corpus", id);
                var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")))!;
                return new Recipe(id, (bool)meta["default"]!, dir);
            }).ToList();
        }

        public ValueTask DisposeAsync()
        {
            System.IO.Directory.Delete(_dir, recursive: true);
            return ValueTask.CompletedTask;
        }

        public static async Task<(bool, string)> PythonAsync(Uri url, string? certFile = null, string? certName = null, string? tofu = null)
        {
            List<string> args = [Path.Combine(Oracles, "python_client.py"), "--url", url.ToString().TrimEnd('/')];
            if (certFile is not null)
            {
                args.AddRange(["--cert-file", certFile]);
            }

            if (certName is not null)
            {
                args.AddRange(["--cert-name", certName]);
            }

            if (tofu is not null)
            {
                System.IO.Directory.CreateDirectory(tofu);
                args.AddRange(["--tofu", tofu]);
            }

            return Verdict("python_client.py", await ChildProcess.RunAsync("python3", args, CleanEnvironment(), timeout: TimeSpan.FromSeconds(90)));
        }

        public async Task<(bool, string)> GoAgentAsync(int port, string masterCert, string? masterCertName)
        {
            List<string> args = ["-addr", $"127.0.0.1:{port}", "-host", Name, "-master-cert", masterCert];
            if (masterCertName is not null)
            {
                args.AddRange(["-master-cert-name", masterCertName]);
            }

            return Verdict("go-agent", await ChildProcess.RunAsync(_goAgent, args, timeout: TimeSpan.FromSeconds(60)));
        }

        private static (bool, string) Verdict(string oracle, ChildProcess.Result run)
        {
            Assert.True(run.ExitCode == 0, $"{oracle} failed (exit {run.ExitCode}): {run.Output}");
            var result = JsonNode.Parse(run.Stdout.Trim().Split('\n')[^1])!;
            var verdict = (string?)result["verdict"];
            Assert.True(verdict is "accept" or "reject", $"{oracle} gave no verdict: {run.Output}");
            return (verdict == "accept", (string?)result["error"] ?? string.Empty);
        }
    }
}
