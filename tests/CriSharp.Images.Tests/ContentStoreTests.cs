using System.Security.Cryptography;
using CriSharp.Images.Content;
using Xunit;

namespace CriSharp.Images.Tests;

public sealed class ContentStoreTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("crisharp-content-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_blob_deleted_after_a_fetch_whose_waiter_gave_up_is_fetched_again()
    {
        var store = new ContentStore(_root);
        var bytes = RandomNumberGenerator.GetBytes(4096);
        var descriptor = new Descriptor("application/octet-stream", Digest.Of(bytes), bytes.Length);
        var release = new TaskCompletionSource();
        var fetches = 0;
        async Task Fetch(IngestTarget target, CancellationToken ct)
        {
            Interlocked.Increment(ref fetches);
            await release.Task;
            await File.WriteAllBytesAsync(target.Path, bytes, ct);
        }

        // A pull past its deadline: the waiter leaves, the shared fetch goes on and stores the blob.
        using (var cts = new CancellationTokenSource())
        {
            var waiting = store.EnsureAsync(descriptor, Fetch, cts.Token);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        }
        release.SetResult();
        for (var i = 0; i < 100 && !store.Has(descriptor.Digest); i++) await Task.Delay(20);
        Assert.True(store.Has(descriptor.Digest));

        // Garbage collection removes it; the next pull must download it again, not get the old path.
        store.Delete(descriptor.Digest);
        await Task.Delay(50); // the finished fetch has left the in-flight table by now
        var path = await store.EnsureAsync(descriptor, Fetch, CancellationToken.None);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        Assert.Equal(2, fetches);
    }
}
