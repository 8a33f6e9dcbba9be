using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Determined;

/// <summary>
/// Writes JSON byte for byte as Python's <c>json.dump(obj, f, indent=4, sort_keys=True)</c> does, so the stores
/// (<c>certs.json</c>, <c>auth.json</c>) stay interchangeable with Determined's Python CLI.
/// </summary>
internal static class PythonJson
{
    public static string Serialize(JsonNode? node)
    {
        var builder = new StringBuilder();
        Write(builder, node, 0);
        return builder.ToString();
    }

    private static void Write(StringBuilder b, JsonNode? node, int level)
    {
        switch (node)
        {
            case null:
                b.Append("null");
                break;
            case JsonObject obj:
                if (obj.Count == 0)
                {
                    b.Append("{}");
                    break;
                }

                b.Append("{\n");
                var first = true;
                foreach (var (key, value) in obj.OrderBy(p => p.Key, CodePointOrder.Instance))
                {
                    if (!first)
                    {
                        b.Append(",\n");
                    }

                    first = false;
                    b.Append(' ', (level + 1) * 4);
                    WriteString(b, key);
                    b.Append(": ");
                    Write(b, value, level + 1);
                }

                b.Append('\n').Append(' ', level * 4).Append('}');
                break;
            case JsonArray array:
                if (array.Count == 0)
                {
                    b.Append("[]");
                    break;
                }

                b.Append("[\n");
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0)
                    {
                        b.Append(",\n");
                    }

                    b.Append(' ', (level + 1) * 4);
                    Write(b, array[i], level + 1);
                }

                b.Append('\n').Append(' ', level * 4).Append(']');
                break;
            case JsonValue value when value.TryGetValue<string>(out var s):
                WriteString(b, s);
                break;
            case JsonValue value when value.TryGetValue<bool>(out var flag):
                b.Append(flag ? "true" : "false");
                break;
            case JsonValue value when value.TryGetValue<long>(out var integer):
                b.Append(integer.ToString(CultureInfo.InvariantCulture));
                break;
            default:
                b.Append(node.ToJsonString());
                break;
        }
    }

    /// <summary>Python's <c>ensure_ascii=True</c> escaping: short escapes, then <c>\uXXXX</c> (lowercase hex) for the rest.</summary>
    private static void WriteString(StringBuilder b, string s)
    {
        b.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                case '\b': b.Append("\\b"); break;
                case '\f': b.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7e)
                    {
                        b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        b.Append(c);
                    }

                    break;
            }
        }

        b.Append('"');
    }
}

/// <summary>Python's string order (<c>sort_keys=True</c>): by Unicode code point, so a character above U+FFFF sorts after
/// U+FFFF (UTF-16 ordinal order puts its surrogates before it). Unpaired surrogates count as their own code unit.</summary>
internal sealed class CodePointOrder : IComparer<string>
{
    public static readonly CodePointOrder Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        int i = 0, j = 0;
        while (i < x.Length && j < y.Length)
        {
            var a = CodePoint(x, ref i);
            var b = CodePoint(y, ref j);
            if (a != b)
            {
                return a < b ? -1 : 1;
            }
        }

        return (x.Length - i).CompareTo(y.Length - j);
    }

    private static int CodePoint(string s, ref int index)
    {
        if (char.IsHighSurrogate(s[index]) && index + 1 < s.Length && char.IsLowSurrogate(s[index + 1]))
        {
            var value = char.ConvertToUtf32(s[index], s[index + 1]);
            index += 2;
            return value;
        }

        return s[index++];
    }
}
