using System.Text;
using System.Text.Json.Nodes;
using Determined.Testing;

namespace Determined.Security.Tests.TrustOnFirstUse;

/// <summary>PythonJson against Python's own json.dump(indent=4, sort_keys=True) on data that stresses escaping and key order.</summary>
[Trait("Wine", Wine.RunsLinuxProgram)]
public sealed class PythonJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-pyjson-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TrickyData_IsWrittenByteForByteAsPythonWritesIt()
    {
        var node = new JsonObject
        {
            ["\uffff"] = 2, // above every BMP character but below the astral one: Python orders by code point
            ["\U0001F600 emoji user"] = "token\U0001F600",
            ["b"] = new JsonArray(1, true, null, new JsonObject(), new JsonArray(), "x"),
            ["a"] = "quote\" back\\slash \b\f\n\r\t nul\u0000 del\u007f é \u2028 lone\ud800",
            ["A"] = new JsonObject { ["nested"] = new JsonObject { ["deep"] = -12345678901 } },
            [""] = "empty key",
            ["https://ünïcode.example:8443"] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        };
        var ours = PythonJson.Serialize(node);
        var input = Path.Combine(_dir, "in.json");
        var output = Path.Combine(_dir, "python.json");
        File.WriteAllText(input, ours, new UTF8Encoding(false));

        using var python = ChildProcess.StartPython(
            "import json,sys\nd=json.load(open(sys.argv[1]))\nwith open(sys.argv[2],'w') as f: json.dump(d, f, indent=4, sort_keys=True)",
            input, output);
        Assert.True(python.WaitForExit(60_000));
        Assert.True(python.ExitCode == 0, python.StandardError.ReadToEnd());

        Assert.Equal(File.ReadAllText(output), ours);
    }

    [Fact]
    public void CodePointOrder_SortsAstralCharactersAfterTheBmp_AsPython()
    {
        string[] keys = ["\U0001F600", "\uffff", "a", "\ud800", "ab", string.Empty];

        Assert.Equal([string.Empty, "a", "ab", "\ud800", "\uffff", "\U0001F600"], keys.Order(CodePointOrder.Instance));
    }
}
