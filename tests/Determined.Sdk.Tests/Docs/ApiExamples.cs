#pragma warning disable CA1812, CA2007, IDE0005
using System.Net.WebSockets;
using Determined;
using Determined.Sdk;
using Determined.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Determined.Sdk.Tests.Docs;

/// <summary>The examples of docs/API.md, compiled here (ApiDocsTests checks the page holds them verbatim, and runs them).</summary>
internal static class ApiExamples
{
    public static async Task TaskAuthorAsync(CancellationToken cancellationToken)
    {
        #region TaskAuthor
        // Inside a Determined task: no configuration. DET_MASTER, DET_MASTER_CERT_FILE, DET_MASTER_CERT_NAME and the
        // task's tokens come from the environment the agent injected.
        var task = DeterminedTaskInfo.FromEnvironment();
        using var client = DeterminedClient.FromEnvironment();
        var me = await client.GetCurrentUserAsync(cancellationToken);
        await client.PostTaskLogsAsync(
            [new TaskLog { TaskId = task.TaskId, AllocationId = task.AllocationId, Log = $"hello from {me.Username}", Level = TaskLogLevel.Info, StdType = TaskLogStdType.Stdout, Timestamp = DateTimeOffset.UtcNow }],
            cancellationToken);
        #endregion
    }

    public static async Task<string> AgentAuthorAsync(Uri masterUri, string caFile, string clientCertFile, string clientKeyFile, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        #region AgentAuthor
        // An agent: only the pinned CA is trusted, the master's certificate name is given, and the agent proves who it is.
        var factory = MasterHttpHandlerFactory.Create(
            new TlsOptions
            {
                MasterCertificateFile = caFile,
                TrustMode = MasterTrustMode.PinnedOnly,
                MasterCertificateName = "determined-master-ci",
                ClientCertificateFile = clientCertFile,
                ClientKeyFile = clientKeyFile,
            },
            loggers);
        using var handler = factory.CreateHandler(masterUri); // one per master, kept for the agent's lifetime
        using var http = new HttpClient(handler, disposeHandler: false) { BaseAddress = masterUri };
        var info = await http.GetStringAsync("info", cancellationToken);

        // The same handler carries the agent's websocket (wss://…/agents?id=…) with the same trust and identity:
        // await new ClientWebSocket().ConnectAsync(agentsUri, new HttpMessageInvoker(handler), cancellationToken);
        #endregion
        return info;
    }

    public static async Task<string> CliAuthorAsync(Uri masterUri, string configDirectory, Func<string, bool> ask, CancellationToken cancellationToken)
    {
        #region CliAuthor
        // A CLI: trust on first use with Determined's certs.json (MasterCertificateStore.OpenDefault() shares the store of
        // Determined's own CLI). An untrusted master's fingerprint is shown once; the answer is remembered.
        var tofu = new TrustOnFirstUse(new MasterCertificateStore(configDirectory))
        {
            Prompt = (request, _) => ValueTask.FromResult(ask(request.PromptText)),
        };
        return await tofu.ExecuteAsync(masterUri, TlsPolicy.Default, async (policy, ct) =>
        {
            using var http = new HttpClient(new MasterHttpHandlerFactory(new CertificateTrustResolver(policy)).CreateHandler(masterUri)) { BaseAddress = masterUri };
            return await http.GetStringAsync("info", ct);
        }, cancellationToken);
        #endregion
    }

    public static IHost ServiceAuthor(string[] args)
    {
        #region ServiceAuthor
        // A service: the default client from configuration ("Determined" section) and the DET_* environment, and a
        // second cluster by name, with its own trust and token ("Determined:Clients:training").
        var builder = Host.CreateApplicationBuilder(args);
        builder.Services.AddDeterminedClient();
        builder.Services.AddDeterminedClient("training", o => o.MasterUrl = "https://training.example.com:8443");
        var host = builder.Build();

        // Later: inject DeterminedClient, or IDeterminedClientFactory and call CreateClient("training"),
        // or [FromKeyedServices("training")] DeterminedClient.
        #endregion
        return host;
    }
}
