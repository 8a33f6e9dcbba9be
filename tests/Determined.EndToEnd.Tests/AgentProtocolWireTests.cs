using System.Text;
using System.Text.Json.Nodes;
using Determined.Samples.Common.Protocol;

namespace Determined.EndToEnd.Tests;

/// <summary>
/// The agent &lt;-&gt; master websocket messages against golden JSON written by hand from upstream Determined's Go types
/// (master/pkg/aproto, cproto, device, archive, model) as encoding/json emits them: Go field order, null for nil
/// pointers and slices, members left out only where tagged omitempty. HostConfig and ContainerStarted.ContainerInfo
/// (Docker's types) are opaque JSON here; their fixtures hold a few members, not Docker's full structs.
/// </summary>
public sealed class AgentProtocolWireTests
{
    private const string Pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    /// <summary>Members whose values are maps or opaque Docker JSON: their keys are data, not Go field names.</summary>
    private static readonly HashSet<string> s_opaque = ["HostConfig", "Labels", "Volumes", "EndpointsConfig", "Registry", "ContainerInfo", "ExposedPorts", "Healthcheck"];

    private static Device Cpu0() => new() { Id = 0, Brand = "cpu", Uuid = "agent-1-cpu0", Type = "cpu" };

    private static ContainerInfo Container(string state, bool devices = true) =>
        new() { ID = "c0ffee", State = state, Devices = devices ? [Cpu0()] : null, Description = "task t1" };

    public static TheoryData<string> Fixtures() =>
    [
        "master_set_agent_options", "start_container", "signal_container", "agent_shutdown",
        "agent_started", "container_state_changed_running", "container_state_changed_stopped", "container_log_run", "container_log_aux", "container_stats_record",
    ];

    private static bool IsMasterToAgent(string name) => name is "master_set_agent_options" or "start_container" or "signal_container" or "agent_shutdown";

    private static JsonNode Fixture(string name) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "AgentProtocol", name + ".json")))!;

    /// <summary>The message each fixture encodes, built with our types.</summary>
    private static object Expected(string name) => name switch
    {
        "master_set_agent_options" => new MasterMessage
        {
            MasterSetAgentOptions = new MasterSetAgentOptions
            {
                MasterInfo = new MasterInfoMessage
                {
                    Version = "0.38.0", MasterId = "m-1", ClusterId = "c-1", ClusterName = "ci",
                    Telemetry = new TelemetryInfo { Enabled = true, SegmentKey = "sk", OtelEnabled = true, OtelEndpoint = "http://otel:4318" },
                    SsoProviders = [new SsoProviderInfo { SsoUrl = "https://sso.example/x", Name = "okta", Type = "OIDC" }],
                },
                LoggingOptions = new LoggingOptions { Type = "default" },
                ContainersToReattach = [new ContainerReattach { Container = Container(ContainerStates.Running) }],
            },
        },
        "start_container" => new MasterMessage
        {
            StartContainer = new StartContainer
            {
                Container = Container(ContainerStates.Assigned, devices: false),
                Spec = new ContainerSpec
                {
                    TaskType = "COMMAND",
                    RunSpec = new RunSpec
                    {
                        ContainerConfig = new DockerContainerConfig
                        {
                            User = "root",
                            Env = ["DET_TASK_ID=t1", "DET_ALLOCATION_ID=t1.1", "DET_SESSION_TOKEN=tok=en"],
                            Cmd = ["/usr/bin/python3", "-c", "print(1)"],
                            Image = "determinedai/environments:py-3.10",
                            WorkingDir = "/run/determined/workdir",
                            Labels = new() { ["ai.determined.container.description"] = "task t1" },
                        },
                        HostConfig = new JsonObject { ["NetworkMode"] = "host", ["AutoRemove"] = false },
                        Archives =
                        [
                            new RunArchive
                            {
                                Path = "/",
                                Archive = [new ArchiveItem { Path = ContainerPaths.MasterCertificate, Content = Encoding.UTF8.GetBytes(Pem), Mode = 420, ModifiedTime = 1715000000, IsRootItem = true }],
                            },
                        ],
                        DeviceType = "cpu",
                    },
                },
            },
        },
        "signal_container" => new MasterMessage { SignalContainer = new SignalContainer { ContainerID = "c0ffee", Signal = SignalContainer.SigTerm } },
        "agent_shutdown" => new MasterMessage { AgentShutdown = new AgentShutdown { ErrMsg = "agent is past reconnect period, it must restart" } },
        "agent_started" => new AgentMessage
        {
            AgentStarted = new AgentStarted
            {
                Version = "0.38.0",
                Devices = [Cpu0()],
                ContainersReattached =
                [
                    new ContainerReattachAck { Container = Container(ContainerStates.Running) },
                    new ContainerReattachAck
                    {
                        Container = Container(ContainerStates.Terminated),
                        Failure = new ContainerFailure { FailureType = FailureTypes.RestoreError, ErrMsg = "no such container" },
                    },
                ],
                ResourcePoolName = "default",
            },
        },
        "container_state_changed_running" => new AgentMessage
        {
            ContainerStateChanged = new ContainerStateChanged
            {
                Container = Container(ContainerStates.Running),
                ContainerStarted = new ContainerStarted { ProxyAddress = "10.0.0.5", ContainerInfo = new JsonObject { ["Id"] = "c0ffee", ["Name"] = "/t1" } },
            },
        },
        "container_state_changed_stopped" => new AgentMessage
        {
            ContainerStateChanged = new ContainerStateChanged { Container = Container(ContainerStates.Terminated), ContainerStopped = ContainerStopped.Exited(3) },
        },
        "container_log_run" => new AgentMessage
        {
            ContainerLog = new ContainerLog
            {
                ContainerID = "c0ffee",
                Timestamp = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234567),
                RunMessage = new RunMessage { Value = "hello from stderr", StdType = RunMessage.Stderr },
                AgentID = "agent-1",
            },
        },
        "container_log_aux" => new AgentMessage
        {
            ContainerLog = new ContainerLog
            {
                ContainerID = "c0ffee",
                Timestamp = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero),
                Level = "ERROR",
                PullMessage = "pulling image",
                AuxMessage = "the agent could not start the task",
                Source = "agent",
                AgentID = "agent-1",
            },
        },
        "container_stats_record" => new AgentMessage
        {
            ContainerStatsRecord = new ContainerStatsRecord
            {
                EndStats = true,
                Stats = new TaskStats
                {
                    AllocationID = "t1.1",
                    EventType = "IMAGEPULL",
                    ContainerID = "c0ffee",
                    StartTime = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero),
                    EndTime = new DateTimeOffset(2024, 5, 6, 7, 8, 10, TimeSpan.FromHours(2)).AddMilliseconds(500),
                },
                TaskType = "COMMAND",
            },
        },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static string Serialize(object message) => message switch
    {
        MasterMessage m => ProtocolJson.Serialize(m),
        AgentMessage a => ProtocolJson.Serialize(a),
        _ => throw new ArgumentException("not a protocol message", nameof(message)),
    };

    /// <summary>Parses with the parser for the fixture's direction and writes it back.</summary>
    private static JsonNode RoundTrip(string name, string text)
    {
        object? parsed = IsMasterToAgent(name) ? ProtocolJson.ParseMaster(text) : ProtocolJson.ParseAgent(text);
        Assert.NotNull(parsed);
        return JsonNode.Parse(Serialize(parsed))!;
    }

    public static TheoryData<string> GoEncoded() =>
    [
        "master_set_agent_options", "master_set_agent_options_elastic", "start_container", "start_container_minimal", "signal_container", "agent_shutdown",
        "agent_started", "container_state_changed_running", "container_state_changed_stopped", "container_log_run", "container_log_aux", "container_stats_record",
    ];

    private static string GoEncodedText(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "AgentProtocol", "GoEncoded", name + ".json"));

    /// <summary>
    /// Messages encoded by upstream's own Go types (aproto, cproto, archive, model, Docker v25.0.6 api/types as go.mod pins)
    /// with encoding/json, from values a real master and agent send (Fixtures/AgentProtocol/GoEncoded; how they were made:
    /// docs/COMPATIBILITY.md). Ours reads each, and what ours writes back differs from Go's only by members ours leaves
    /// out whose Go value is the zero value, which Go's decoder reads the same.
    /// </summary>
    [Theory]
    [MemberData(nameof(GoEncoded))]
    public void GoEncoded_ParsesAndWritesBackWhatGoReadsAsTheSameValue(string name)
    {
        var text = GoEncodedText(name);
        var go = JsonNode.Parse(text)!;
        // Go's names are the other way round: aproto.AgentMessage is what the master sends to an agent.
        var ours = RoundTrip(go.AsObject().ContainsKey("StartContainer") ? "start_container" : "agent_started", text);
        var differences = new List<string>();
        CompareModuloZero(go, ours, "$", differences);
        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [Fact]
    public void CompareModuloZero_FindsDroppedAndChangedMembers_ButNotOmittedZeros()
    {
        var differences = new List<string>();
        CompareModuloZero(
            JsonNode.Parse("""{"A":1,"B":"","C":{"D":null,"E":[]},"F":"x","G":"2024-05-06T07:08:09.5Z","H":[1,2]}"""),
            JsonNode.Parse("""{"A":2,"G":"2024-05-06T09:08:09.5+02:00","H":[1,3],"I":true}"""),
            "$",
            differences);
        Assert.Equal(["$.A: Go 1, ours 2", "$.H[1]: Go 2, ours 3", "$.I: ours writes true, Go has no such member", "$.F: Go has \"x\", ours leaves it out"], differences);
    }

    [Fact]
    public void GoEncoded_CarriesWhatTheSamplesUse()
    {
        var start = ProtocolJson.ParseMaster(GoEncodedText("start_container"))!.StartContainer!;
        Assert.Equal(["/run/determined/ship-logs.sh", "/run/determined/ship_logs.py", "/run/determined/command-entrypoint.sh", "python3", "-c", "print(1)"], start.Spec.RunSpec.ContainerConfig.Cmd!);
        Assert.Contains("DET_SESSION_TOKEN=tok=en", start.Spec.RunSpec.ContainerConfig.Env!);
        Assert.Equal("1000:1000", start.Spec.RunSpec.ContainerConfig.User);
        Assert.Equal("/run/determined/workdir", start.Spec.RunSpec.ContainerConfig.WorkingDir);
        Assert.Contains(start.Spec.RunSpec.Archives!.SelectMany(a => a.Archive!), i => i.Content.Length > 0 && i.Mode != 0);
        Assert.Equal(9, ProtocolJson.ParseMaster(GoEncodedText("signal_container"))!.SignalContainer!.Signal);
        var stopped = ProtocolJson.ParseAgent(GoEncodedText("container_state_changed_stopped"))!.ContainerStateChanged!;
        Assert.Equal(ContainerStates.Terminated, stopped.Container.State);
        Assert.Equal(137, stopped.ContainerStopped!.EffectiveExitCode);
        var log = ProtocolJson.ParseAgent(GoEncodedText("container_log_run"))!.ContainerLog!;
        Assert.NotNull(log.RunMessage);
        Assert.NotEqual(default, log.Timestamp);
    }

    /// <summary>Every member ours writes equals Go's; a member only Go writes must hold a zero value (null, "", 0, false, [], {}, or an object of zeros).</summary>
    private static void CompareModuloZero(JsonNode? go, JsonNode? ours, string path, List<string> differences)
    {
        if (go is JsonObject goObject && ours is JsonObject ourObject)
        {
            foreach (var (key, value) in ourObject)
            {
                if (!goObject.TryGetPropertyValue(key, out var goValue))
                {
                    differences.Add($"{path}.{key}: ours writes {value?.ToJsonString() ?? "null"}, Go has no such member");
                    continue;
                }

                CompareModuloZero(goValue, value, $"{path}.{key}", differences);
            }

            foreach (var (key, value) in goObject.Where(p => !ourObject.ContainsKey(p.Key)))
            {
                if (!IsZero(value))
                {
                    differences.Add($"{path}.{key}: Go has {value!.ToJsonString()}, ours leaves it out");
                }
            }

            return;
        }

        if (go is JsonValue && ours is JsonValue && go.GetValueKind() == System.Text.Json.JsonValueKind.String && ours.GetValueKind() == System.Text.Json.JsonValueKind.String
            && DateTimeOffset.TryParse((string)go!, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var goTime)
            && DateTimeOffset.TryParse((string)ours!, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var ourTime)
            && ((string)go!).Contains('T', StringComparison.Ordinal))
        {
            if (goTime != ourTime)
            {
                differences.Add($"{path}: Go {go.ToJsonString()}, ours {ours.ToJsonString()}");
            }

            return;
        }

        if (go is JsonArray goArray && ours is JsonArray ourArray && goArray.Count == ourArray.Count)
        {
            for (var i = 0; i < goArray.Count; i++)
            {
                CompareModuloZero(goArray[i], ourArray[i], $"{path}[{i}]", differences);
            }

            return;
        }

        if (!JsonNode.DeepEquals(go, ours))
        {
            differences.Add($"{path}: Go {go?.ToJsonString() ?? "null"}, ours {ours?.ToJsonString() ?? "null"}");
        }
    }

    private static bool IsZero(JsonNode? node) => node switch
    {
        null => true,
        JsonObject o => o.All(p => IsZero(p.Value)),
        JsonArray a => a.Count == 0 || a.All(IsZero),
        _ => node.GetValueKind() switch
        {
            System.Text.Json.JsonValueKind.String => ((string?)node)!.Length == 0,
            System.Text.Json.JsonValueKind.Number => node.ToJsonString() == "0",
            System.Text.Json.JsonValueKind.False => true,
            _ => false,
        },
    };

    private static void AssertSameJson(JsonNode expected, JsonNode actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual), $"expected\n{expected.ToJsonString()}\nbut got\n{actual.ToJsonString()}");

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Serializer_WritesWhatGoWrites(string name) =>
        AssertSameJson(Fixture(name), JsonNode.Parse(Serialize(Expected(name)))!);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Parser_ReadsTheFixtureWithEveryField(string name)
    {
        var text = Fixture(name).ToJsonString();
        // Every member survives: what we parsed writes back as the fixture, and as the message built by hand.
        AssertSameJson(Fixture(name), RoundTrip(name, text));
        AssertSameJson(JsonNode.Parse(Serialize(Expected(name)))!, RoundTrip(name, text));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Parser_IgnoresTheCaseOfFieldNames_AsGo(string name)
    {
        var lower = LowerCaseNames(Fixture(name));
        Assert.False(JsonNode.DeepEquals(Fixture(name), lower));
        AssertSameJson(Fixture(name), RoundTrip(name, lower.ToJsonString()));
    }

    [Fact]
    public void StartContainer_CarriesTheCertificateAsBase64ArchiveContent()
    {
        var item = Fixture("start_container")["StartContainer"]!["Spec"]!["RunSpec"]!["Archives"]![0]!["Archive"]![0]!;
        Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes(Pem)), (string?)item["content"]);
        var parsed = ProtocolJson.ParseMaster(Fixture("start_container").ToJsonString())!.StartContainer!;
        Assert.Equal(Pem, Encoding.UTF8.GetString(parsed.Spec.RunSpec.Archives![0].Archive![0].Content));
        Assert.Equal("DET_SESSION_TOKEN=tok=en", parsed.Spec.RunSpec.ContainerConfig.Env![2]);
    }

    [Fact]
    public void ContainerStopped_ExitZero_HasNoFailure_AsGoContainerExited()
    {
        var json = JsonNode.Parse(ProtocolJson.Serialize(new AgentMessage
        {
            ContainerStateChanged = new ContainerStateChanged { Container = Container(ContainerStates.Terminated), ContainerStopped = ContainerStopped.Exited(0) },
        }))!;
        AssertSameJson(JsonNode.Parse("""{"Failure":null}""")!, json["ContainerStateChanged"]!["ContainerStopped"]!);
        Assert.Equal(0, ProtocolJson.ParseAgent(json.ToJsonString())!.ContainerStateChanged!.ContainerStopped!.EffectiveExitCode);
        Assert.Equal(3, ProtocolJson.ParseAgent(Fixture("container_state_changed_stopped").ToJsonString())!.ContainerStateChanged!.ContainerStopped!.EffectiveExitCode);
    }

    [Fact]
    public void Cmd_AsASingleString_ParsesAsDockerStrSlice()
    {
        var parsed = ProtocolJson.ParseMaster("""{"StartContainer":{"Spec":{"RunSpec":{"ContainerConfig":{"Cmd":"echo"}}}}}""");
        Assert.Equal(["echo"], parsed!.StartContainer!.Spec.RunSpec.ContainerConfig.Cmd!);
    }

    [Fact]
    public void UnknownMessageKind_ParsesAsNoKnownKind_NotAsMalformed()
    {
        var master = ProtocolJson.ParseMaster("""{"MasterSetAgentOptions":null,"StartContainer":null,"SignalContainer":null,"AgentShutdown":null,"ContainerPrune":{"X":1}}""");
        Assert.NotNull(master);
        Assert.True(master.MasterSetAgentOptions is null && master.StartContainer is null && master.SignalContainer is null && master.AgentShutdown is null);
        var agent = ProtocolJson.ParseAgent("""{"AgentHeartbeat":{"At":1}}""");
        Assert.NotNull(agent);
        Assert.True(agent.AgentStarted is null && agent.ContainerStateChanged is null && agent.ContainerLog is null && agent.ContainerStatsRecord is null);
    }

    [Fact]
    public void WrongTypes_AreMalformed_NotExceptions()
    {
        Assert.Null(ProtocolJson.ParseMaster("""{"SignalContainer":{"ContainerID":"c","Signal":"SIGKILL"}}"""));
        Assert.Null(ProtocolJson.ParseAgent("""{"ContainerLog":{"ContainerID":"c","Timestamp":"yesterday"}}"""));
        Assert.Null(ProtocolJson.ParseAgent("""{"ContainerLog":{"RunMessage":{"Value":"x","StdType":"stdout"}}}"""));
        Assert.Null(ProtocolJson.ParseMaster("""{"StartContainer":{"Spec":{"RunSpec":{"Archives":[{"Archive":[{"content":"not base64!"}]}]}}}}"""));
    }

    private static JsonNode LowerCaseNames(JsonNode node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(
            p.Key.ToLowerInvariant(),
            s_opaque.Contains(p.Key) || p.Value is null ? p.Value?.DeepClone() : LowerCaseNames(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(e => e is null ? null : LowerCaseNames(e))]),
        _ => node.DeepClone(),
    };
}
