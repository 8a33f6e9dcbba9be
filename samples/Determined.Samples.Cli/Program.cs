using Determined;
using System.CommandLine;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Determined.Samples.Cli;
using Determined.Samples.Cli.Commands;
using Determined.Sdk;
using Determined.Security;
using Microsoft.Extensions.Options;

var master = new Option<string?>("--master", "-m") { Description = "Master address (default: DET_MASTER, else DET_MASTER_ADDR, else localhost:8080).", Recursive = true };
var trustFingerprint = new Option<string?>("--trust-fingerprint") { Description = $"Trust a master whose certificate has this SHA-256 fingerprint or SPKI pin, without a prompt (env {TrustOnFirstUse.ExpectedFingerprintVariable}).", Recursive = true };
var root = new RootCommand("det: a Determined CLI in .NET with trust on first use and a TLS doctor.") { master, trustFingerprint };

CliContext Context(ParseResult parse) =>
    new(parse.GetValue(master), parse.GetValue(trustFingerprint), Console.Out, Console.Error, Console.In, !Console.IsInputRedirected);

static string P(string? text) => SafeText.Terminal(text ?? string.Empty);

async Task<int> Guard(ParseResult parse, Func<Task<int>> body)
{
    try
    {
        return await body();
    }
    catch (Exception ex) when (ex is DeterminedException or FormatException or HttpRequestException or IOException or OperationCanceledException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidOperationException or InvalidCastException)
    {
        return CliContext.Fail(Console.Error, ex, masterFromFlag: parse.GetValue(master) is not null);
    }
}

// det info
var info = new Command("info", "Show the master's /info and /api/v1/master.");
info.SetAction((parse, ct) => Guard(parse, async () =>
{
    var cli = Context(parse);
    var (i, m) = await cli.WithClientAsync(async (client, c) => (await client.GetInfoAsync(c), await client.GetMasterAsync(c)), ct);
    Console.WriteLine($"Master:       {cli.MasterUrl}");
    Console.WriteLine($"Version:      {P(i.Version)}");
    Console.WriteLine($"Master ID:    {P(i.MasterId)}");
    Console.WriteLine($"Cluster ID:   {P(i.ClusterId)}");
    Console.WriteLine($"Cluster name: {P(m.ClusterName ?? i.ClusterName)}");
    return 0;
}));
root.Subcommands.Add(info);

// det user login|logout|whoami
var user = new Command("user", "Log in and out; show the current user.");
var userArgument = new Argument<string?>("username") { Description = "User name (default: DET_USER, else determined).", Arity = ArgumentArity.ZeroOrOne };
var login = new Command("login", "Log in; the token is stored in auth.json. Password: prompt without echo, or DET_PASS.") { userArgument };
login.SetAction((parse, ct) => Guard(parse, async () =>
{
    var cli = Context(parse);
#pragma warning disable RS0030 // The CLI reads DET_USER/DET_PASS as Determined's CLI does.
    var name = parse.GetValue(userArgument) ?? Environment.GetEnvironmentVariable("DET_USER") ?? "determined";
    var password = Environment.GetEnvironmentVariable("DET_PASS") ?? ReadPassword($"Password for user '{name}': ");
#pragma warning restore RS0030
    var result = await cli.WithClientAsync((client, c) => client.LoginAsync(name, password, c), ct);
    cli.Tokens.SetToken(cli.MasterUrl, name, result.Token!);
    Console.WriteLine($"Logged in as '{name}' on {cli.MasterUrl}.");
    return 0;
}));
var logout = new Command("logout", "Log out and forget the stored token.");
logout.SetAction((parse, ct) => Guard(parse, async () =>
{
    var cli = Context(parse);
    var name = cli.Settings.User ?? cli.Tokens.GetActiveUser(cli.MasterUrl);
    if (name is null || !cli.Settings.HasUserToken)
    {
        Console.Error.WriteLine($"error: not logged in to {cli.MasterUrl}.");
        return 1;
    }

    await cli.WithClientAsync(async (client, c) => { await client.LogoutAsync(c); return 0; }, ct);
    cli.Tokens.RemoveToken(cli.MasterUrl, name);
    Console.WriteLine($"Logged out '{name}' from {cli.MasterUrl}.");
    return 0;
}));
var whoami = new Command("whoami", "Show the user the stored token belongs to.");
whoami.SetAction((parse, ct) => Guard(parse, async () =>
{
    var cli = Context(parse);
    var me = await cli.WithClientAsync((client, c) => client.GetCurrentUserAsync(c), ct);
    Console.WriteLine($"You are logged in as user '{P(me.Username)}'");
    return 0;
}));
user.Subcommands.Add(login);
user.Subcommands.Add(logout);
user.Subcommands.Add(whoami);
root.Subcommands.Add(user);

// det tls doctor|trust|list|forget|show-config|dev-pki
var tls = new Command("tls", "Diagnose and manage trust in masters' certificates.");
var jsonOption = new Option<bool>("--json") { Description = "Machine-readable output." };
var doctorTimeout = new Option<int>("--timeout") { Description = "Seconds to wait for the master's answer to GET /info after connecting (default 30).", DefaultValueFactory = _ => 30 };
var doctor = new Command("doctor", "Connect to the master; show the chain, protocol, cipher, trust source and the verdict with its fix.") { jsonOption, doctorTimeout };
doctor.SetAction((parse, ct) => Guard(parse, () => TlsDoctor.RunAsync(Context(parse), parse.GetValue(jsonOption), ct, TimeSpan.FromSeconds(Math.Clamp(parse.GetValue(doctorTimeout), 1, 3600)))));
var fingerprintOption = new Option<string?>("--fingerprint") { Description = "Expected SHA-256 fingerprint or SPKI pin; trusted without a prompt when it matches." };
var trust = new Command("trust", "Trust the master's current certificate (after checking it) and store its chain in certs.json.") { fingerprintOption };
trust.SetAction((parse, ct) => Guard(parse, async () =>
{
    var cli = Context(parse);
    if (parse.GetValue(fingerprintOption) is { } fp)
    {
        cli.Tofu.ExpectedPin = CertificatePin.Parse(fp);
    }

    var leaf = await cli.Tofu.TrustAsync(cli.MasterUri, cli.Settings.Tls.MasterCertificateName, ct);
    Console.WriteLine($"Trusted {cli.MasterUrl}: {leaf} (stored in {cli.Certificates.FilePath})");
    return 0;
}));
var list = new Command("list", "List the masters trusted on first use.");
list.SetAction((parse, ct) => Guard(parse, () =>
{
    var cli = Context(parse);
    foreach (var (url, pem) in cli.Certificates.List())
    {
        var chain = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        chain.ImportFromPem(pem);
        Console.WriteLine(chain.Count == 0 ? $"{url}  (no certificate)" : $"{url}  {P(CertificateSummary.Create(chain[0]).ToString())}");
    }

    return Task.FromResult(0);
}));
var forgetArgument = new Argument<string>("url") { Description = "The master URL to forget." };
var forget = new Command("forget", "Remove a master from certs.json.") { forgetArgument };
forget.SetAction((parse, ct) => Guard(parse, () =>
{
    var cli = Context(parse);
    var url = MasterAddress.Canonicalize(parse.GetValue(forgetArgument)!);
    if (!cli.Certificates.Remove(url))
    {
        Console.Error.WriteLine($"error: {url} is not in {cli.Certificates.FilePath}.");
        return Task.FromResult(1);
    }

    Console.WriteLine($"Forgot {url}.");
    return Task.FromResult(0);
}));
var showConfig = new Command("show-config", "Show the effective settings and where each value comes from (secrets are never shown).");
showConfig.SetAction((parse, ct) => Guard(parse, () =>
{
    var cli = Context(parse);
    var stored = cli.Certificates.Get(cli.MasterUrl) is not null;
    foreach (var source in cli.Settings.Provenance)
    {
        Console.WriteLine(source);
    }

    Console.WriteLine($"certs.json = {cli.Certificates.FilePath} ({(stored ? "has an entry for this master" : "no entry for this master")})");
    Console.WriteLine($"auth.json = {cli.Tokens.FilePath}");
    return Task.FromResult(0);
}));
var outOption = new Option<string>("--out") { Description = "Directory to write ca.crt, master.crt, master.key and <client>.crt/.key into.", Required = true };
var nameOption = new Option<string[]>("--name") { Description = "DNS name of the master certificate (repeatable).", DefaultValueFactory = _ => ["determined-master"], AllowMultipleArgumentsPerToken = true };
var ipOption = new Option<string[]>("--ip") { Description = "IP address of the master certificate (repeatable).", DefaultValueFactory = _ => [] };
var clientOption = new Option<string[]>("--client") { Description = "Client certificate to issue, e.g. an agent id (repeatable).", DefaultValueFactory = _ => [] };
var devPki = new Command("dev-pki", "Create a development PKI: CA, intermediate, master certificate and client certificates (keys mode 0600). Not for production.") { outOption, nameOption, ipOption, clientOption };
devPki.SetAction((parse, ct) => Guard(parse, () =>
{
    var files = DevelopmentCertificateAuthority.WriteDevelopmentPki(
        parse.GetValue(outOption)!, parse.GetValue(nameOption)!, parse.GetValue(ipOption)!.Select(IPAddress.Parse), parse.GetValue(clientOption)!);
    Console.WriteLine($"CA certificate (pin this): {files.CaCertificateFile}");
    Console.WriteLine($"Master certificate chain:  {files.MasterCertificateFile}");
    Console.WriteLine($"Master private key:        {files.MasterKeyFile}");
    foreach (var (name, (cert, key)) in files.ClientFiles)
    {
        Console.WriteLine($"Client '{name}':            {cert} / {key}");
    }

    return Task.FromResult(0);
}));
foreach (var c in new[] { doctor, trust, list, forget, showConfig, devPki })
{
    tls.Subcommands.Add(c);
}

root.Subcommands.Add(tls);

// det command run -- <program> [args]
var command = new Command("command", "Run commands as tasks on the cluster.");
var agentOption = new Option<string?>("--agent") { Description = "Agent to run on (default: the first connected agent)." };
var commandArgument = new Argument<string[]>("command") { Description = "The program and its arguments.", Arity = ArgumentArity.OneOrMore };
var run = new Command("run", "Launch a command as a task, stream its logs when it ends, and exit with its exit code.") { agentOption, commandArgument };
run.SetAction((parse, ct) => Guard(parse, async () =>
{
    var cli = Context(parse);
    return await cli.WithClientAsync(async (client, c) =>
    {
        // Upstream's LaunchCommandRequest; agentId is the sample master's extension.
        var body = new JsonObject { ["config"] = new JsonObject { ["entrypoint"] = new JsonArray([.. parse.GetValue(commandArgument)!.Select(a => (JsonNode)a)]) } };
        if (parse.GetValue(agentOption) is { } agent)
        {
            body["agentId"] = agent;
        }

        using var launched = await client.SendAsync(HttpMethod.Post, "api/v1/commands", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), c);
        var text = await launched.Content.ReadAsStringAsync(c);
        if (!launched.IsSuccessStatusCode)
        {
            Console.Error.WriteLine($"error: the master refused the command ({(int)launched.StatusCode}): {P(text)}");
            return 1;
        }

        var taskId = (string)JsonNode.Parse(text)!["command"]!["id"]!;
        Console.WriteLine($"Launched task {P(taskId)}");
        for (var i = 0; i < 3000; i++)
        {
            using var state = await client.SendAsync(HttpMethod.Get, $"api/v1/tasks/{Uri.EscapeDataString(taskId)}", null, c);
            var allocation = JsonNode.Parse(await state.Content.ReadAsStringAsync(c))?["task"]?["allocations"]?[0];
            if ((string?)allocation?["state"] == "STATE_TERMINATED")
            {
                // A grpc-gateway server stream: one {"result": TaskLogsResponse} per line.
                using var logs = await client.SendAsync(HttpMethod.Get, $"api/v1/tasks/{Uri.EscapeDataString(taskId)}/logs", null, c);
                foreach (var line in (await logs.Content.ReadAsStringAsync(c)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    var log = JsonNode.Parse(line)?["result"];
                    Console.WriteLine($"[{P(log?["source"]?.ToString())}] {P(log?["log"]?.ToString())}");
                }

                var exit = (int?)allocation["statusCode"] ?? 1;
                Console.WriteLine($"Task {P(taskId)} exited with code {exit}");
                return exit == 0 ? 0 : 1;
            }

            await Task.Delay(200, c);
        }

        Console.Error.WriteLine($"error: task {P(taskId)} did not finish in 10 minutes");
        return 1;
    }, ct);
}));
command.Subcommands.Add(run);
root.Subcommands.Add(command);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine("error: " + error.Message);
    }

    Console.Error.WriteLine("Run 'det --help' for usage.");
    return 2;
}

return await parsed.InvokeAsync();

static string ReadPassword(string prompt)
{
    if (Console.IsInputRedirected)
    {
        return Console.In.ReadLine() ?? string.Empty;
    }

    Console.Error.Write(prompt);
    var password = new StringBuilder();
    while (true)
    {
        var key = Console.ReadKey(intercept: true);
        if (key.Key == ConsoleKey.Enter)
        {
            Console.Error.WriteLine();
            return password.ToString();
        }

        if (key.Key == ConsoleKey.Backspace)
        {
            if (password.Length > 0)
            {
                password.Length--;
            }
        }
        else if (!char.IsControl(key.KeyChar))
        {
            password.Append(key.KeyChar);
        }
    }
}
