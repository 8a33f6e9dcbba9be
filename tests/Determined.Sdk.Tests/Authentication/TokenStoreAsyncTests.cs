namespace Determined.Sdk.Tests.Authentication;

/// <summary>The token store's async operations: the same results as the synchronous ones, a cancellable lock wait.</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class TokenStoreAsyncTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-token-async-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task AsyncOperations_MatchTheSynchronousOnes_AndTheLockWaitIsCancellable()
    {
        var store = new DeterminedTokenStore(_dir);

        Assert.Null(await store.GetActiveUserAsync("https://m:8443"));
        await store.SetTokenAsync("https://m:8443", "alice", "t-alice");
        await store.SetTokenAsync("https://m:8443", "bob", "t-bob", makeActive: false);
        Assert.Equal("alice", await store.GetActiveUserAsync("https://M:8443/"));
        Assert.Equal("t-bob", await store.GetTokenAsync("https://m:8443", "bob"));
        Assert.Equal(["alice", "bob"], await store.GetUsersAsync("https://m:8443"));
        Assert.True(await store.RemoveTokenAsync("https://m:8443", "alice"));
        Assert.Null(store.GetActiveUser("https://m:8443"));

        using (new FileStream(store.FilePath + ".lock", new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None }))
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.SetTokenAsync("https://m:8443", "carol", "t", cancellationToken: cancel.Token));
        }

        Assert.Equal(["bob"], await store.GetUsersAsync("https://m:8443")); // the cancelled write wrote nothing
    }
}
