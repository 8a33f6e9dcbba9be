using System.Text;

namespace Determined.Sdk.Tests.Http;

/// <summary>A non-idempotent body goes to the wire once, whichever API writes it; a second write says why and how to fix it.</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class SendOnceContentTests
{
    [Fact]
    public void SynchronousWrite_Twice_TheSecondIsRefused()
    {
        using var content = new SendOnceContent(Encoding.UTF8.GetBytes("{\"x\":1}"), "POST /api/v1/commands");
        using var first = new MemoryStream();
        content.CopyTo(first, null, CancellationToken.None);
        Assert.Equal("{\"x\":1}", Encoding.UTF8.GetString(first.ToArray()));

        var ex = Assert.Throws<InvalidOperationException>(() => content.CopyTo(new MemoryStream(), null, CancellationToken.None));

        Assert.StartsWith("POST /api/v1/commands is not idempotent and was already sent once", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DisableForUnsafeHttpMethods()", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AsynchronousWrite_AfterASynchronousOne_IsRefused()
    {
        using var content = new SendOnceContent([1, 2, 3], "POST /api/v1/task/logs");
        content.CopyTo(new MemoryStream(), null, CancellationToken.None);

        await Assert.ThrowsAsync<InvalidOperationException>(() => content.CopyToAsync(new MemoryStream()));
        Assert.True(content.TryDispatch());
        Assert.False(content.TryDispatch());
    }
}
