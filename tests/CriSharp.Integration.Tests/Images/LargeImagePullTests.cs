using System.Text.RegularExpressions;
using CriSharp.Linux;
using CriSharp.TestSupport;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Images;

/// <summary>The ~231 MB `large` image: concurrent pulls share downloads; a daemon killed mid-pull recovers.</summary>
public sealed class LargeImagePullTests(LargeImagePullTests.Fixture fixture) : IClassFixture<LargeImagePullTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public RegistryFixture Registry { get; private set; } = null!;
        public BuiltImage Large { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Registry = await RegistryFixture.Anonymous();
            Large = (await TestImages.PushAsync(Registry, TestImages.Large))[0];
        }

        public Task DisposeAsync() => Registry.DisposeAsync().AsTask();
    }

    BuiltImage Large => fixture.Large;

    /// <summary>Registry access-log lines ("GET /v2/... HTTP/1.1" 200 ...) for GETs of one blob, in completion order.</summary>
    static List<int> GetLines(string[] log, string repository, string digest) =>
        [.. log.Select((line, i) => (line, i)).Where(x => x.line.Contains($"\"GET /v2/{repository}/blobs/{digest} ", StringComparison.Ordinal)).Select(x => x.i)];

    [Fact]
    public async Task Two_concurrent_pulls_return_the_same_image_and_download_each_layer_once()
    {
        using var d = await ImageDaemon.StartAsync();
        var logStart = new FileInfo(fixture.Registry.LogPath).Length;

        var ids = await Task.WhenAll(d.PullAsync(Large.Reference), d.PullAsync(Large.Reference));

        Assert.Equal(Large.ConfigDigest, ids[0]);
        Assert.Equal(ids[0], ids[1]);
        var image = Assert.Single(await d.ListAsync());
        Assert.Equal([Large.Reference], image.RepoTags);
        Assert.Equal([Large.DigestReference], image.RepoDigests);

        // The registry's access log has one combined-log-format line per request, written when the response
        // completes: `127.0.0.1 - - [...] "GET /v2/<repo>/blobs/sha256:<hex> HTTP/1.1" 200 <bytes> ...`.
        // The daemon may HEAD a blob as often as it likes, but each layer's bytes must be fetched by one
        // GET: the two pulls share one download per digest (and a resumed download would show a second GET).
        // Manifest and config are small and each pull resolves them itself, so they are not counted.
        var log = ImageTests.ReadFrom(fixture.Registry.LogPath, logStart).Split('\n');
        foreach (var layer in Large.LayerDigests)
        {
            var gets = GetLines(log, Large.Repository, layer);
            Assert.True(gets.Count == 1, $"layer {layer} was downloaded {gets.Count} times:\n{string.Join('\n', log.Where(l => l.Contains("/v2/")))}");
        }
        // Both pulls really overlapped: each fetched the config (completing) before any 52 MiB layer had finished,
        // so the second pull reached its downloads while the first's were in flight.
        var configGets = GetLines(log, Large.Repository, Large.ConfigDigest!);
        Assert.Equal(2, configGets.Count);
        var firstBigLayerDone = Large.LayerDigests.Skip(1).Min(l => GetLines(log, Large.Repository, l)[0]);
        Assert.True(configGets[1] < firstBigLayerDone, "the two pulls did not overlap; the test proves nothing");
    }

    [Fact]
    public async Task Daemon_killed_mid_pull_restarts_clean_and_the_pull_completes()
    {
        var first = await ImageDaemon.StartAsync();
        ImageDaemon? second = null;
        try
        {
            var pull = first.PullAsync(Large.Reference);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!Directory.EnumerateFiles(first.IngestDir).Any(f => new FileInfo(f).Length > 0))
            {
                Assert.False(pull.IsCompleted, "the pull ended before any bytes were seen in root/ingest: "
                    + (pull.IsFaulted ? pull.Exception!.InnerException!.Message : "it succeeded") + "\n" + first.Daemon.Stderr);
                Assert.True(DateTime.UtcNow < deadline, "no download bytes appeared in root/ingest within 60 s");
                await Task.Delay(1);
            }
            first.Daemon.Signal(ProcessControl.SIGKILL);
            Assert.NotNull(await first.Daemon.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            await Assert.ThrowsAsync<RpcException>(() => pull);

            var ingestAtKill = first.IngestEntries();
            Assert.Contains(ingestAtKill, e => e.EndsWith(".partial", StringComparison.Ordinal));
            // Make sure there is an unpack leftover for recovery to remove, wherever the kill landed.
            Directory.CreateDirectory(Path.Combine(first.LayersDir, ".tmp-0123456789ab-crashed", "large"));

            second = await ImageDaemon.StartAsync(dir: first.Daemon.Dir);

            Assert.Empty(await second.ListAsync());
            Assert.Null(await second.StatusAsync(Large.Reference));
            Assert.DoesNotContain(second.LayerEntries(), e => e.StartsWith(".tmp-", StringComparison.Ordinal));
            Assert.All(second.LayerEntries(), e => Assert.Matches(new Regex("^[0-9a-f]{64}$"), e));
            // Partial downloads of blobs not yet complete are kept, to be resumed.
            var resumable = ingestAtKill.Where(e => e.EndsWith(".partial", StringComparison.Ordinal) && !File.Exists(Path.Combine(second.BlobsDir, e[..^".partial".Length])));
            Assert.Equal(resumable, second.IngestEntries());

            var id = await second.PullAsync(Large.Reference);

            Assert.Equal(Large.ConfigDigest, id);
            Assert.Equal(id, Assert.Single(await second.ListAsync()).Id);
            Assert.DoesNotContain(second.IngestEntries(), e => e.EndsWith(".partial", StringComparison.Ordinal));
            var chainIds = await second.ChainIdsAsync(Large.Reference);
            Assert.Equal(chainIds.Select(ImageDaemon.Hex).Order(StringComparer.Ordinal), second.LayerEntries());
            Assert.Equal(TestImages.LargeLayerBytes, new FileInfo(Path.Combine(second.LayerPath(chainIds[^1]), "large/blob-3.bin")).Length);
        }
        finally
        {
            second?.Dispose(); // stops the restarted daemon and removes the shared dir
            first.Dispose();
        }
    }
}
