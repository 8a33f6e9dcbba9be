using System.Text.Json;
using System.Text.Json.Nodes;

namespace Determined.Samples.Master.Api;

/// <summary>Reads request bodies within the endpoint's size limit (<see cref="RequestLimits"/>), never throwing for a bad one.</summary>
public static class RequestJson
{
    private static readonly JsonDocumentOptions s_jsonLimits = new() { MaxDepth = 16, AllowDuplicateProperties = false };

    /// <summary>
    /// Reads the body as JSON (a depth of 16, no duplicate properties) and then as <typeparamref name="T"/> with
    /// <paramref name="parse"/>, which receives null for a body that is not JSON. <c>Refused</c> is the answer to send
    /// instead when the body is larger than the endpoint accepts.
    /// </summary>
    /// <typeparam name="T">The typed request.</typeparam>
    /// <param name="context">The request.</param>
    /// <param name="parse">Reads the request's fields, with the endpoint's own defaults for missing or wrongly typed ones.</param>
    public static async Task<(T? Request, IResult? Refused)> ReadAsync<T>(HttpContext context, Func<JsonNode?, T> parse)
    {
        JsonNode? json;
        try
        {
            json = await JsonNode.ParseAsync(context.Request.Body, documentOptions: s_jsonLimits, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            json = null;
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (default, ApiErrors.TooLarge("the request body is larger than this endpoint accepts"));
        }

        return (parse(json), null);
    }

    /// <summary>A body read into one buffer of its declared size (no doubling copies); of unknown length, grown as it comes.</summary>
    public static async Task<byte[]> ReadBytesAsync(HttpRequest request, int expected, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } length)
        {
            var buffer = new byte[length];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await request.Body.ReadAsync(buffer.AsMemory(read), cancellationToken);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            return read == buffer.Length ? buffer : buffer[..read];
        }

        using var grown = new MemoryStream(Math.Min(expected, 64 * 1024));
        await request.Body.CopyToAsync(grown, cancellationToken);
        return grown.ToArray();
    }

    /// <summary>The field's text when it is a JSON string; null when it is missing or of another type.</summary>
    /// <remarks>A string that is not valid UTF-8 throws <see cref="InvalidOperationException"/>: answered 400 by <see cref="RequestLimits"/>.</remarks>
    public static string? Text(JsonNode? field) => field?.GetValueKind() == JsonValueKind.String ? field.GetValue<string>() : null;

    /// <summary>True only for the JSON literal <c>true</c>.</summary>
    public static bool IsTrue(JsonNode? field) => field?.GetValueKind() == JsonValueKind.True;
}
