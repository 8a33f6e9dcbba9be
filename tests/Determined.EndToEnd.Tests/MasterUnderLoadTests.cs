using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Determined.Sdk;
using Determined.Security;
using Determined.Testing;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// The sample master (a real process) under what an unauthenticated peer or a task can throw at it, measured by its
/// resident memory: a flood of idle TLS connections from several addresses (127.0.0.2-…: Linux answers the whole
/// 127/8), unique 60,000-character user names at the login, and concurrent 8 MiB task-log posts. The master stays up and
/// bounded, a client that was already working and a connected agent see no failure, and every limit is logged. The CI
/// scale is a few thousand connections; <c>DETERMINED_FLOOD_CONNECTIONS=20000</c> runs the full scale (docs/RELIABILITY.md).
/// </summary>
public sealed class MasterUnderLoadTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_guard = TimeSpan.FromMinutes(5);

    private static int LoginsPerWorker =>
        int.TryParse(Environment.GetEnvironmentVariable("DETERMINED_FLOOD_LOGINS"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n / 4 : 500;

    private static int FloodConnections =>
        int.TryParse(Environment.GetEnvironmentVariable("DETERMINED_FLOOD_CONNECTIONS"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 2000;

    private static long ResidentMiB(Process process)
    {
        var status = File.ReadAllLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(status.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }

    [Fact]
    public async Task IdleTlsConnectionFlood_FromManyAddresses_MasterStaysUpAndBounded_ClientAndAgentUnaffected()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(true, false, "--limits-max-connections", "1000", "--limits-max-connections-per-address", "100", "--limits-idle-timeout", "3", "--security-tls-handshake-timeout", "3");
        var agent = await cluster.StartRegisteredAgentAsync(cluster.AgentArgs(reconnectAttempts: 40));
        using var client = DeterminedClient.FromEnvironment(new DeterminedClientOptions
        {
            MasterUrl = cluster.MasterUri.ToString(), UseEnvironment = false, UseTokenStore = false, UseCertificateStore = false, Timeout = TimeSpan.FromSeconds(60),
            Tls = { MasterCertificateFile = cluster.CaFile, MasterCertificateName = "determined-master-ci" },
        });
        await client.GetInfoAsync();

        using var stop = new CancellationTokenSource();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var calls = 0;
        var loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await client.GetInfoAsync();
                    Interlocked.Increment(ref calls);
                }
                catch (DeterminedException ex)
                {
                    failures.Enqueue(ex.Message);
                }

                await Task.Delay(100);
            }
        });

        var before = ResidentMiB(cluster.Master!.Process);
        var clock = Stopwatch.StartNew();
        var held = await FloodAsync(cluster.MasterUri.Port, FloodConnections, addresses: 12);
        var peak = ResidentMiB(cluster.Master.Process);
        var callsDuringFlood = Volatile.Read(ref calls);
        await Task.Delay(TimeSpan.FromSeconds(5)); // past the idle and handshake timeouts: the master closes what is held
        var closedByMaster = (await Task.WhenAll(held.Select(IsClosedAsync))).Count(closed => closed);
        peak = Math.Max(peak, ResidentMiB(cluster.Master.Process));
        foreach (var stream in held)
        {
            stream.Dispose();
        }

        await Task.Delay(500);
        var afterCalls = Volatile.Read(ref calls);
        await Eventually.WaitAsync(() => Volatile.Read(ref calls) > afterCalls + 3, "calls after the flood");
        await stop.CancelAsync();
        await loop;

        output.WriteLine($"flood of {FloodConnections} connections from 12 addresses: {held.Count} completed TLS and were held, {closedByMaster} closed by the master after its timeouts; master RSS {before} MiB before, peak {peak} MiB; {callsDuringFlood} client calls, {failures.Count} failed; {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.False(cluster.Master.Process.HasExited, "the master died");
        Assert.False(agent.Process.HasExited, "the agent exited: " + agent.Output);
        Assert.True(failures.IsEmpty, $"{failures.Count} calls failed during the flood: {string.Join(" | ", failures.Take(3))}");
        Assert.True(callsDuringFlood > 0);
        Assert.True(peak < 500, $"the master's resident memory reached {peak} MiB (before: {before} MiB)");
        Assert.True(closedByMaster >= held.Count * 9 / 10, $"the master closed only {closedByMaster} of {held.Count} idle connections after its timeouts");
        Assert.True(cluster.Master.Output.Contains("limits.max_connections_per_address (100)", StringComparison.Ordinal), cluster.Master.Output);
        Assert.Contains("limits.max_connections (1000) reached", cluster.Master.Output, StringComparison.Ordinal);
        Assert.Contains("Refused a connection from 127.0.0.", cluster.Master.Output, StringComparison.Ordinal);
        await cluster.Master.WaitForLineAsync("Agent agent-1 registered");
        Assert.True(clock.Elapsed < s_guard);
    }

    [Fact]
    public async Task LoginsWithUniqueHugeUserNames_KeepTheMastersMemoryBounded_AndLockOutStillWorks()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: false);
        var before = ResidentMiB(cluster.Master!.Process);
        using var http = new HttpClient { BaseAddress = cluster.MasterUri };
        // The issue's attack sent 60,000-character names: a login body is now at most 4 KiB, so those are refused unread.
        var huge = $"{{\"username\":\"{new string('n', 60_000)}\",\"password\":\"x\"}}";
        try
        {
            // Its own client: the master closes that connection after the 413, so no other request may reuse it.
            using var once = new HttpClient { BaseAddress = cluster.MasterUri };
            using var refusedUnread = await once.PostAsync("/api/v1/auth/login", new StringContent(huge, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refusedUnread.StatusCode);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.Unknown)
        {
            // The master answered 413 and closed before the client finished sending: refused unread just the same.
        }

        // The largest names a login can carry, all different: the throttle's memory stays bounded.
        var name = new string('n', 3_900);
        var statuses = new System.Collections.Concurrent.ConcurrentBag<int>();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < LoginsPerWorker; i++)
            {
                var body = $"{{\"username\":\"{name}{worker:00}{i:00000}\",\"password\":\"x\"}}";
                using var response = await http.PostAsync("/api/v1/auth/login", new StringContent(body, Encoding.UTF8, "application/json"));
                statuses.Add((int)response.StatusCode);
            }
        }))).WaitAsync(s_guard);
        var after = ResidentMiB(cluster.Master.Process);

        output.WriteLine($"{statuses.Count} logins with unique 3,900-character names: master RSS {before} -> {after} MiB; {statuses.Count(x => x == 401)} x 401, {statuses.Count(x => x == 429)} x 429");
        Assert.True(after < 300, $"the master's resident memory went from {before} to {after} MiB");
        Assert.Contains(401, statuses);
        Assert.Contains(429, statuses); // more than 50 failures from one address in a minute: locked out, whatever the names
    }

    [Fact]
    public async Task SixteenConcurrentEightMebibyteLogPosts_AreRefusedAtTheEntryCap_WithTheMastersMemoryBounded_AndNormalPostsStillWork()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: false);
        await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var admin = await cluster.LoginAsync();
        var dir = Path.Combine(cluster.Directory, "log-flood");
        Directory.CreateDirectory(dir);
        // A task that hands the test its allocation token (the credential any task holds) and waits, bounded, until told to stop.
        var script = $"printf %s \"$DET_SESSION_TOKEN\" > {dir}/token; i=0; while [ ! -e {dir}/done ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done";
        var taskId = await Cluster.LaunchTaskAsync(admin, "agent-1", ["/bin/sh", "-c", script]);
        await Eventually.WaitAsync(() => File.Exists(Path.Combine(dir, "token")) && new FileInfo(Path.Combine(dir, "token")).Length > 0, "the task's token");
        await Task.Delay(100);
        var token = await File.ReadAllTextAsync(Path.Combine(dir, "token"));
        cluster.Secrets.Add(token);

        var body = new StringBuilder("{\"logs\":[");
        while (body.Length < (8 * 1024 * 1024) - 64)
        {
            body.Append("{\"log\":\"a\"},");
        }

        var payload = Encoding.UTF8.GetBytes(body.Append("{\"log\":\"a\"}]}").ToString());
        using var http = new HttpClient { BaseAddress = cluster.MasterUri, Timeout = TimeSpan.FromMinutes(2) };
        async Task<(int Status, string Text)> PostAsync(byte[] bytes)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/task/logs") { Content = new ByteArrayContent(bytes) };
            request.Headers.TryAddWithoutValidation("Grpc-Metadata-x-allocation-token", "Bearer " + token);
            using var response = await http.SendAsync(request);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        var first = await PostAsync(Encoding.UTF8.GetBytes("{\"logs\":[{\"log\":\"first\"}]}"));
        Assert.True(first.Status == 200, $"{first.Status}: {first.Text}");
        var peak = 0L;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, ResidentMiB(cluster.Master!.Process));
                await Task.Delay(50);
            }
        });
        var clock = Stopwatch.StartNew();
        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => PostAsync(payload))).WaitAsync(s_guard);
        await sampling.CancelAsync();
        await sampler;

        output.WriteLine($"16 concurrent posts of {payload.Length} bytes ({payload.Length / 12} entries each): answered in {clock.Elapsed.TotalSeconds:0.00} s ({answers.Count(a => a.Status == 400)} x 400 at the entry cap, {answers.Count(a => a.Status == 503)} x 503 over the in-flight budget), master RSS peak {peak} MiB");
        // Each is refused at the entry cap once read (400), or not read at all while 64 MiB of log posts are in flight (503).
        Assert.All(answers, a => Assert.True(a.Status == 400 ? a.Text.Contains("more than 10000 log entries", StringComparison.Ordinal) : a.Status == 503 && a.Text.Contains("retry shortly", StringComparison.Ordinal), $"{a.Status}: {a.Text}"));
        Assert.Contains(answers, a => a.Status == 400);
        Assert.True(peak < 500, $"the master's resident memory reached {peak} MiB");
        var normal = await PostAsync(Encoding.UTF8.GetBytes("{\"logs\":[{\"log\":\"still here\"}]}"));
        Assert.Equal(200, normal.Status);
        await File.WriteAllTextAsync(Path.Combine(dir, "done"), string.Empty);
        await Cluster.WaitForTaskAsync(admin, taskId);
    }

    /// <summary>Opens connections from 127.0.0.2 … 127.0.0.(1+addresses) and completes a TLS handshake on each the master accepts; returns the held streams.</summary>
    private static async Task<List<SslStream>> FloodAsync(int port, int connections, int addresses)
    {
        var held = new System.Collections.Concurrent.ConcurrentBag<SslStream>();
        using var gate = new SemaphoreSlim(64);
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{2 + (i * addresses / connections)}"), 0)); // address by address
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
                    var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
#pragma warning disable CA5359 // an attacker's client: it accepts anything
                    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "determined-master-ci", RemoteCertificateValidationCallback = (_, _, _, _) => true }, timeout.Token);
#pragma warning restore CA5359
                    held.Add(ssl); // then idle, as the attack's sleeping clients
                }
                catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
                {
                    socket.Dispose(); // refused at accept (a limit), or closed by the master
                }
            }
            finally
            {
                gate.Release();
            }
        }));
        return [.. held];
    }

    /// <summary>Whether the master has closed this connection (a read ends or fails within a second instead of waiting).</summary>
    private static async Task<bool> IsClosedAsync(SslStream stream)
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            return await stream.ReadAsync(new byte[1], wait.Token) == 0;
        }
        catch (OperationCanceledException)
        {
            return false; // still open: the master is waiting for a request
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            return true;
        }
    }

}

/// <summary>The master's bounded readers and tables, without a network: task-log bodies, the login throttle, the log buffer.</summary>
public sealed class MasterLimitsTests
{
    [Fact]
    public void TaskLogsReader_ReadsEntries_SkipsWhatIsNotAString_AndRefusesOverTheEntryCap()
    {
        var body = "{\"other\":[1,{\"a\":2}],\"logs\":[{\"log\":\"one\",\"stdtype\":\"stderr\",\"allocationId\":\"t.1\",\"x\":{\"y\":[]}},7,{\"log\":5,\"stdtype\":null},{}]}"u8;

        var (lines, refusal) = Determined.Samples.Master.Limits.TaskLogsReader.Read(body, maxEntries: 4);

        Assert.Null(refusal);
        Assert.Equal(3, lines!.Count);
        Assert.Equal(new Determined.Samples.Master.Limits.TaskLogLine("t.1", "one", "stderr"), lines[0]);
        Assert.Equal(new Determined.Samples.Master.Limits.TaskLogLine(null, string.Empty, "stdout"), lines[1]);
        Assert.Contains("more than 3 log entries", Determined.Samples.Master.Limits.TaskLogsReader.Read(body, maxEntries: 3).Refusal, StringComparison.Ordinal); // non-objects count too
        Assert.Equal("the body names \"logs\" twice", Determined.Samples.Master.Limits.TaskLogsReader.Read("{\"logs\":[{}],\"logs\":[{}]}"u8, 10).Refusal);
        Assert.Equal("expected {\"logs\":[...]}", Determined.Samples.Master.Limits.TaskLogsReader.Read("[]"u8, 10).Refusal);
        Assert.Equal("expected {\"logs\":[...]}", Determined.Samples.Master.Limits.TaskLogsReader.Read("{\"logs\":{}}"u8, 10).Refusal);
        Assert.Equal("the request body is not the expected JSON", Determined.Samples.Master.Limits.TaskLogsReader.Read("{\"logs\":[{\"log\":\"x\""u8, 10).Refusal);
        Assert.Equal("the request body is not the expected JSON", Determined.Samples.Master.Limits.TaskLogsReader.Read(Encoding.UTF8.GetBytes("{\"logs\":[{\"x\":" + new string('[', 100) + new string(']', 100) + "}]}"), 10).Refusal);
    }

    [Fact]
    public void TaskLogsReader_AnEightMebibyteBodyOfTinyEntries_IsRefusedAtTheCap_WithoutBuildingTheRest()
    {
        var body = new StringBuilder("{\"logs\":[");
        while (body.Length < (8 * 1024 * 1024) - 64)
        {
            body.Append("{\"log\":\"a\"},");
        }

        body.Append("{\"log\":\"a\"}]}");
        var bytes = Encoding.UTF8.GetBytes(body.ToString());
        var before = GC.GetAllocatedBytesForCurrentThread();

        var (lines, refusal) = Determined.Samples.Master.Limits.TaskLogsReader.Read(bytes, maxEntries: 10_000);

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Null(lines);
        Assert.Contains("more than 10000 log entries", refusal, StringComparison.Ordinal);
        Assert.True(allocated < 8 * 1024 * 1024, $"allocated {allocated / 1024} KiB to refuse it"); // a JSON tree of 699k entries took hundreds of MiB
    }

    [Fact]
    public void LoginThrottle_UniqueHugeNames_StayBoundedInKeys_AndTheAddressIsStillLockedOut()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var throttle = new Determined.Samples.Master.Limits.LoginThrottle(time);
        var attacker = IPAddress.Parse("10.0.0.66");
        var neighbour = IPAddress.Parse("10.0.0.7");
        var name = new string('n', 60_000);
        for (var i = 0; i < 30_000; i++)
        {
            throttle.Failed(IPAddress.Parse($"10.{i / 65536}.{i / 256 % 256}.{i % 256}"), name + i);
        }

        Assert.InRange(throttle.TrackedKeys, 1, 3 * Determined.Samples.Master.Limits.LoginThrottle.MaxKeys);
        for (var i = 0; i < Determined.Samples.Master.Limits.LoginThrottle.FailuresPerUser; i++)
        {
            throttle.Failed(attacker, "determined");
        }

        Assert.True(throttle.IsLockedOut(attacker, "determined"));
        Assert.False(throttle.IsLockedOut(attacker, "admin"));
        Assert.False(throttle.IsLockedOut(neighbour, "determined"));
        for (var i = 0; i < Determined.Samples.Master.Limits.LoginThrottle.FailuresPerAddress; i++)
        {
            throttle.Failed(attacker, name + i);
        }

        Assert.True(throttle.IsLockedOut(attacker, "admin")); // whatever names it tries
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(throttle.IsLockedOut(attacker, "determined"));

        // A guessing run spread over many addresses: the user's logins pause for the minute, from every address.
        for (var i = 0; i < Determined.Samples.Master.Limits.LoginThrottle.FailuresPerUserFromAnywhere; i++)
        {
            throttle.Failed(IPAddress.Parse($"192.0.2.{i + 1}"), "alice");
        }

        Assert.True(throttle.IsLockedOut(IPAddress.Parse("198.51.100.9"), "alice"));
        Assert.False(throttle.IsLockedOut(IPAddress.Parse("198.51.100.9"), "bob"));
    }

    [Fact]
    public void TaskLogBuffer_ManyMoreLinesThanItKeeps_KeepsTheNewest_InOrder_AndReadsAfterAnyId()
    {
        var buffer = new Determined.Samples.Master.Tasks.TaskLogBuffer();
        var total = Determined.Samples.Master.Tasks.TaskLogBuffer.MaxLines * 5 + 123;
        for (var i = 1; i <= total; i++)
        {
            buffer.Append(DateTimeOffset.UtcNow, "LOG_LEVEL_INFO", "line " + i, "stdout", "task");
        }

        Assert.Equal(Determined.Samples.Master.Tasks.TaskLogBuffer.MaxLines, buffer.Count);
        var all = buffer.After(0, int.MaxValue);
        Assert.Equal(total - Determined.Samples.Master.Tasks.TaskLogBuffer.MaxLines + 1, all[0].Id);
        Assert.Equal(total, all[^1].Id);
        Assert.True(all.Zip(all.Skip(1)).All(p => p.Second.Id == p.First.Id + 1));
        Assert.Equal([total - 1, total], buffer.After(total - 2, 10).Select(e => e.Id));
        Assert.Empty(buffer.After(total, 10));
    }
}

/// <summary>The agent against a master (or whoever speaks for it) that asks for more than a machine should run.</summary>
public sealed class AgentLimitsTests
{
    [Fact]
    public async Task MoreStartContainersThanTheAgentRuns_TheRestAreFailedStarts_TheAgentStaysUp()
    {
        await using var cluster = new Cluster();
        await cluster.StartMasterAsync(tls: false);
        var agent = await cluster.StartRegisteredAgentAsync(cluster.AgentArgs());
        using var admin = await cluster.LoginAsync();
        var limit = Determined.Samples.Agent.TaskLauncher.MaxRunningTasks;
        var ids = new List<string>();
        for (var i = 0; i < limit + 6; i++)
        {
            ids.Add(await Cluster.LaunchTaskAsync(admin, "agent-1", ["sleep", "600"]));
        }

        var states = new Dictionary<string, string>();
        var deadline = Stopwatch.StartNew();
        while (states.Count(s => s.Value is "STATE_RUNNING" or "STATE_TERMINATED") < ids.Count)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "tasks did not settle: " + string.Join(", ", states.Values.GroupBy(v => v).Select(g => $"{g.Key} {g.Count()}")));
            foreach (var id in ids)
            {
                using var response = await admin.SendAsync(HttpMethod.Get, $"api/v1/tasks/{id}");
                states[id] = (string?)System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!["task"]!["allocations"]![0]!["state"] ?? string.Empty;
            }

            await Task.Delay(200);
        }

        Assert.Equal(limit, states.Values.Count(s => s == "STATE_RUNNING"));
        Assert.Equal(6, states.Values.Count(s => s == "STATE_TERMINATED"));
        Assert.Contains($"already runs its limit of {limit} tasks", agent.Output, StringComparison.Ordinal);
        Assert.False(agent.Process.HasExited);
    }
}
