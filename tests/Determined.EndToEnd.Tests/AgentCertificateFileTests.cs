using Determined.Samples.Agent;
using Determined.Samples.Agent.Configuration;
using Determined.Samples.Common.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.EndToEnd.Tests;

/// <summary>The agent writes the task's certificate file without ever following a planted link.</summary>
public sealed class AgentCertificateFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-agent-cert-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static StartContainer Start() =>
        ProtocolJson.ParseMaster(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "AgentProtocol", "start_container.json")))!.StartContainer!;

    private static async Task<List<AgentMessage>> LaunchAsync(string certPath)
    {
        var sent = new List<AgentMessage>();
        var config = new AgentConfig { MasterHost = "127.0.0.1", AgentId = "agent-1", CertPath = certPath, TlsEnabled = true };
        var launcher = new TaskLauncher(config, m => { lock (sent) { sent.Add(m); } return Task.CompletedTask; }, NullLogger.Instance);
        await launcher.StartAsync(Start(), CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2));
        return sent;
    }

    [Fact]
    public async Task CertificateFile_LinkPlantedAtTheOldPredictableTemporaryName_IsNeverFollowed()
    {
        var certPath = Path.Combine(_dir, "master.crt");
        var victim = Path.Combine(_dir, "victim");
        File.WriteAllText(victim, "precious");
        File.SetUnixFileMode(victim, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        // Where the agent used to write (<cert>.tmp-<pid>): the name is now random and created exclusively.
        File.CreateSymbolicLink(certPath + ".tmp-" + Environment.ProcessId, victim);

        await LaunchAsync(certPath);

        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(victim));
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", File.ReadAllText(certPath), StringComparison.Ordinal);
        Assert.Null(new FileInfo(certPath).LinkTarget);
        Assert.Empty(Directory.GetFiles(_dir, ".master.crt.*.tmp"));
    }

    [Fact]
    public async Task CertificateFile_InADirectoryAnotherUserOwns_IsRefusedWithTheReason()
    {
        Assert.True(Environment.UserName == "root", "This test needs root: it gives a directory to 'nobody' (CI runs as root).");
        var foreign = Path.Combine(_dir, "foreign");
        Directory.CreateDirectory(foreign);
        var chown = await Determined.Testing.ChildProcess.RunAsync("chown", ["65534:65534", foreign], timeout: TimeSpan.FromSeconds(30));
        Assert.True(chown.ExitCode == 0, chown.Stderr);
        var certPath = Path.Combine(foreign, "master.crt");

        var sent = await LaunchAsync(certPath);

        Assert.False(File.Exists(certPath));
        Assert.Contains(sent, m => m.ContainerLog?.AuxMessage?.Contains("belongs to user id 65534", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task CertificateFile_InADirectoryOthersMayWriteWithoutStickyBit_IsRefusedWithTheReason()
    {
        var shared = Path.Combine(_dir, "shared");
        Directory.CreateDirectory(shared);
        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_111);
        var certPath = Path.Combine(shared, "master.crt");

        var sent = await LaunchAsync(certPath);

        Assert.False(File.Exists(certPath));
        Assert.Contains(sent, m => m.ContainerLog?.AuxMessage?.Contains("writable by other users", StringComparison.Ordinal) == true);
        Assert.Contains(sent, m => m.ContainerStateChanged?.ContainerStopped?.Failure is not null);
    }
}

/// <summary>The sample master's users: a password variable that is not set never means "no password".</summary>
public sealed class MasterUserPasswordTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void User_WithPasswordEnvUnsetOrEmpty_CannotLogIn_AndTheMasterSaysWhy(string? value)
    {
        var auth = new Determined.Samples.Master.Api.AuthService(
            [new Determined.Samples.Master.Configuration.UserConfig("alice", true, "ALICE_PASSWORD_TYPO")],
            name => name == "ALICE_PASSWORD_TYPO" ? value : null);

        Assert.Null(auth.Login("alice", string.Empty, isHashed: true));
        Assert.Null(auth.Login("alice", string.Empty, isHashed: false));
        Assert.Null(auth.Login("alice", "!", isHashed: true));
        var warning = Assert.Single(auth.Warnings);
        Assert.Contains("alice", warning, StringComparison.Ordinal);
        Assert.Contains("ALICE_PASSWORD_TYPO", warning, StringComparison.Ordinal);
        Assert.NotNull(auth.Login("determined", string.Empty, isHashed: true)); // upstream's default users keep their empty password
    }

    [Fact]
    public void User_WithPasswordEnvSet_LogsInWithThatPasswordOnly()
    {
        var auth = new Determined.Samples.Master.Api.AuthService(
            [new Determined.Samples.Master.Configuration.UserConfig("alice", false, "ALICE_PASSWORD")],
            name => name == "ALICE_PASSWORD" ? "s3cret-Pass" : null);

        Assert.NotNull(auth.Login("alice", "s3cret-Pass", isHashed: false));
        Assert.Null(auth.Login("alice", string.Empty, isHashed: true));
        Assert.Empty(auth.Warnings);
    }
}

/// <summary>User session tokens expire (upstream's default lifespan: 30 days) and logout revokes them.</summary>
public sealed class MasterSessionTokenTests
{
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static Microsoft.AspNetCore.Http.DefaultHttpContext Bearer(string token)
    {
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Headers.Authorization = "Bearer " + token;
        return context;
    }

    [Fact]
    public void SessionToken_AfterItsLifetime_IsRefused_AndLogoutRevokesIt()
    {
        var clock = new Clock(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var auth = new Determined.Samples.Master.Api.AuthService([], _ => null, TimeSpan.FromDays(30), clock);
        var token = auth.Login("determined", string.Empty, isHashed: true)!;

        clock.Now = clock.Now.AddDays(29);
        Assert.NotNull(auth.Authenticate(Bearer(token)));
        clock.Now = clock.Now.AddDays(1);
        Assert.Null(auth.Authenticate(Bearer(token)));

        var second = auth.Login("determined", string.Empty, isHashed: true)!;
        Assert.True(auth.Logout(second));
        Assert.Null(auth.Authenticate(Bearer(second)));
    }
}
