using Determined.Testing;

namespace Determined.Security.Tests.TrustOnFirstUse;

/// <summary>The stores' async operations: the same results as the synchronous ones, a lock wait that can be cancelled.</summary>
public sealed class StoreAsyncTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("det-store-async-").FullName;
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _root = TestCertificates.CreateRoot("Async Store");

    public void Dispose()
    {
        _root.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static FileStream HoldLock(MasterCertificateStore store) =>
        new(store.FilePath + ".lock", new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None });

    [Fact]
    public async Task AsyncOperations_MatchTheSynchronousOnes()
    {
        var store = new MasterCertificateStore(_dir);
        var pem = TestCertificates.Pem(_root);

        Assert.Null(await store.GetAsync("https://m.example:8443"));
        await store.SetAsync("HTTPS://M.example:8443/", pem);
        Assert.Equal(pem, await store.GetAsync("https://m.example:8443"));
        Assert.Equal(pem, store.Get("m.example:8443".Insert(0, "https://")));
        Assert.Equal(["https://m.example:8443"], (await store.ListAsync()).Keys);
        Assert.True(await store.RemoveAsync("https://m.example:8443"));
        Assert.False(await store.RemoveAsync("https://m.example:8443"));
        Assert.Empty(await store.ListAsync());
    }

    [Fact]
    public async Task LockHeldElsewhere_TheWaitIsCancellable_AndGoesOnWhenReleased()
    {
        var store = new MasterCertificateStore(_dir);
        await store.SetAsync("https://m.example:8443", TestCertificates.Pem(_root));
        using (HoldLock(store))
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.GetAsync("https://m.example:8443", cancel.Token));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.SetAsync("https://other.example:8443", TestCertificates.Pem(_root), new CancellationToken(canceled: true)));
        }

        await store.SetAsync("https://other.example:8443", TestCertificates.Pem(_root)).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.NotNull(await store.GetAsync("https://other.example:8443"));
        Assert.Equal(2, (await store.ListAsync()).Count);
    }

    [Fact]
    public async Task AsyncCalls_InParallel_LoseNoWrite()
    {
        var store = new MasterCertificateStore(_dir);
        var pem = TestCertificates.Pem(_root);

        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => store.SetAsync($"https://m{i}.example:8443", pem))));

        Assert.Equal(16, (await store.ListAsync()).Count);
    }
}
