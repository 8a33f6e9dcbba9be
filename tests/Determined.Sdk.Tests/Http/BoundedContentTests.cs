using System.Text;

namespace Determined.Sdk.Tests.Http;

/// <summary>The response body wrapper: read-only, unseekable, counted the same by every read API, and cut at the limit.</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class BoundedContentTests
{
    [Fact]
    public async Task EveryReadPath_ReturnsTheBody_AndTheStreamIsReadOnly()
    {
        using var content = new BoundedContent(new StringContent("{\"ok\":true}", Encoding.UTF8, "application/json"), 1024, Deadline());

        Assert.Equal("application/json", content.Headers.ContentType?.MediaType);
        Assert.Null(content.Headers.ContentLength);
        Assert.Equal("{\"ok\":true}", await content.ReadAsStringAsync());

        using var copy = new MemoryStream();
        using (var synchronous = new BoundedContent(new StringContent("{\"ok\":true}"), 1024, Deadline()))
        {
            synchronous.CopyTo(copy, null, CancellationToken.None);
        }

        Assert.Equal("{\"ok\":true}", Encoding.UTF8.GetString(copy.ToArray()));

        using var unbuffered = new BoundedContent(new StringContent("{\"ok\":true}"), 1024, Deadline());
        using var stream = await unbuffered.ReadAsStreamAsync();
        var buffer = new byte[4];
        Assert.Equal(4, stream.Read(buffer, 0, 4));
#pragma warning disable CA1835 // the array overload is part of the stream contract under test
        Assert.Equal(4, await stream.ReadAsync(buffer, 0, 4, CancellationToken.None));
#pragma warning restore CA1835
        Assert.Equal(8, stream.Position);
        Assert.True(stream.CanRead);
        Assert.False(stream.CanSeek);
        Assert.False(stream.CanWrite);
        stream.Flush();
        Assert.Throws<NotSupportedException>(() => stream.Length);
        Assert.Throws<NotSupportedException>(() => stream.Position = 0);
        Assert.Throws<NotSupportedException>(() => stream.Seek(0, SeekOrigin.Begin));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(1));
        Assert.Throws<NotSupportedException>(() => stream.Write(buffer, 0, 1));
    }

    [Fact]
    public void SynchronousRead_PastTheLimit_IsResponseTooLarge()
    {
        using var content = new BoundedContent(new ByteArrayContent(new byte[2048]), 1024, Deadline());
        using var stream = content.ReadAsStream();
        var buffer = new byte[4096];

        var ex = Assert.Throws<DeterminedApiException>(() =>
        {
            while (stream.Read(buffer, 0, buffer.Length) > 0)
            {
            }
        });

        Assert.Contains("larger than 1024 bytes", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Each content owns (and disposes) its deadline.</summary>
    private static CallDeadline Deadline() => new(TimeSpan.FromMinutes(5), TimeProvider.System, "https://m:8443", "GET /info");
}
