using System.Text.Json;

namespace Determined.Samples.Master.Limits;

/// <summary>One entry of <c>POST /api/v1/task/logs</c> (upstream's <c>PostTaskLogsRequest.logs</c>): the fields this master reads.</summary>
public sealed record TaskLogLine(string? AllocationId, string Log, string StdType);

/// <summary>
/// Reads <c>{"logs":[{...}, ...]}</c> token by token (no JSON tree: an 8 MiB body of tiny entries used to cost seconds and
/// hundreds of MiB per request) and refuses a body with more than <c>limits.max_log_entries_per_request</c> entries at the
/// first entry over it. Entries that are not objects, and fields that are not strings, are skipped, as before.
/// </summary>
public static class TaskLogsReader
{
    private static readonly JsonReaderOptions s_options = new() { MaxDepth = 16 };

    /// <summary>The entries, or why the body is refused (then the entries are null).</summary>
    public static (List<TaskLogLine>? Lines, string? Refusal) Read(ReadOnlySpan<byte> body, int maxEntries)
    {
        var reader = new Utf8JsonReader(body, s_options);
        List<TaskLogLine>? lines = null;
        var entries = 0; // every element counts, objects or not
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return (null, "expected {\"logs\":[...]}");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isLogs = reader.ValueTextEquals("logs"u8);
                if (isLogs && lines is not null)
                {
                    return (null, "the body names \"logs\" twice");
                }

                reader.Read();
                if (!isLogs || reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                lines = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (++entries > maxEntries)
                    {
                        return (null, $"more than {maxEntries} log entries in one request (limits.max_log_entries_per_request); send them in batches");
                    }

                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    lines.Add(ReadEntry(ref reader));
                }
            }

            return lines is null ? (null, "expected {\"logs\":[...]}") : (lines, null);
        }
        catch (JsonException)
        {
            return (null, "the request body is not the expected JSON");
        }
    }

    private static TaskLogLine ReadEntry(ref Utf8JsonReader reader)
    {
        string? allocationId = null;
        var log = string.Empty;
        var std = "stdout";
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = reader.ValueTextEquals("allocationId"u8) ? 1 : reader.ValueTextEquals("log"u8) ? 2 : reader.ValueTextEquals("stdtype"u8) ? 3 : 0;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                reader.Skip();
                continue;
            }

            switch (field)
            {
                case 1:
                    allocationId = reader.GetString();
                    break;
                case 2:
                    log = reader.GetString() ?? string.Empty;
                    break;
                case 3:
                    std = reader.GetString() ?? "stdout";
                    break;
            }
        }

        return new TaskLogLine(allocationId, log, std);
    }
}
