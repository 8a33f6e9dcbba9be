using System.Net;
using System.Text.Json;

namespace Determined.Sdk;

/// <summary>
/// The master's error answers as <see cref="DeterminedApiException"/>s: a bounded read of the body, upstream's error
/// envelope (gRPC-gateway's <c>{"error": {...}}</c> or <c>{"code", "message"}</c>), the master's text made safe to print,
/// and the fix for 401 and 403.
/// </summary>
internal static class ApiErrors
{
    private const int MaxErrorTextBytes = 64 * 1024;

    public static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await ReadErrorTextAsync(response, cancellationToken).ConfigureAwait(false);
        int code = 0;
        string? reason = null;
        string? message = null;
        try
        {
            var envelope = JsonSerializer.Deserialize(text, SdkJsonContext.Default.ErrorEnvelope);
            code = envelope?.Error?.Code ?? envelope?.Code ?? 0;
            reason = envelope?.Error?.Reason;
            message = envelope?.Error?.Error ?? envelope?.Message;
        }
        catch (JsonException)
        {
            message = text.Length > 200 ? text[..200] : text;
        }

        message = message is null ? null : SafeText.Spaced(message);
        reason = reason is null ? null : SafeText.Spaced(reason);

        var status = (int)response.StatusCode;
        var path = response.RequestMessage?.RequestUri?.AbsolutePath;
        var hint = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => " Fix: log in (det user login, DeterminedClient.LoginAsync) or provide a token (DET_USER_TOKEN, DeterminedClientOptions.Token); inside a task DET_SESSION_TOKEN is used.",
            HttpStatusCode.Forbidden => " Fix: use a user with the needed permissions.",
            _ => string.Empty,
        };
        throw new DeterminedApiException(response.StatusCode, code, reason, $"The master answered {method(response)} {path} with {status} {reason ?? SafeText.Spaced(response.ReasonPhrase ?? string.Empty)}: {message}.{hint}");

        static string method(HttpResponseMessage r) => r.RequestMessage?.Method.Method ?? "the request";
    }

    /// <summary>At most <see cref="MaxErrorTextBytes"/> of an error answer are read: enough for any real error, bounded for a hostile one.</summary>
    private static async Task<string> ReadErrorTextAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[MaxErrorTextBytes];
            var total = 0;
            int n;
            while (total < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += n;
            }

            return System.Text.Encoding.UTF8.GetString(buffer, 0, total);
        }
    }
}
