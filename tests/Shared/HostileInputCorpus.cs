using System.Text;

namespace Determined.Security.Tests.Reliability;

/// <summary>A fixed-seed generator of hostile inputs for the fuzz tests (bounded: count inputs).</summary>
public static class HostileInputCorpus
{
    /// <summary>Random strings biased towards the grammar of the parser under test.</summary>
    public static IEnumerable<string> Generate(int seed, string[] fragments, int count = 3000)
    {
        var random = new Random(seed);
        const string alphabet = "abcXYZ019:/@?#[]-._%~ \t\n\\\"'{}\u00e9\u0000\u202e=+,;!";
        yield return string.Empty;
        for (var i = 0; i < count; i++)
        {
            var builder = new StringBuilder();
            var parts = random.Next(1, 6);
            for (var p = 0; p < parts; p++)
            {
                if (random.Next(3) == 0)
                {
                    for (var c = random.Next(0, 12); c > 0; c--)
                    {
                        builder.Append(alphabet[random.Next(alphabet.Length)]);
                    }
                }
                else
                {
                    var fragment = fragments[random.Next(fragments.Length)];
                    builder.Append(random.Next(4) == 0 && fragment.Length > 1 ? fragment[..random.Next(1, fragment.Length)] : fragment);
                }
            }

            yield return builder.ToString();
        }
    }
}
