namespace CriSharp.Integration.Tests.Images;

/// <summary>Images with several tags, idempotent RemoveImage, and garbage collection of shared blobs and layers.</summary>
public sealed class ImageRemovalTests(DefaultImagesRegistry r) : IClassFixture<DefaultImagesRegistry>
{
    [Fact]
    public async Task Two_tags_are_one_image_and_removing_by_one_tag_removes_it_all_idempotently()
    {
        using var d = await ImageDaemon.StartAsync();
        var v1 = r["twotags:v1"];
        var v2 = r["twotags:v2"];
        var id = await d.PullAsync(v1.Reference);
        Assert.Equal(id, await d.PullAsync(v2.Reference));
        var image = Assert.Single(await d.ListAsync());
        Assert.Equal(id, image.Id);
        Assert.Equal(new[] { v1.Reference, v2.Reference }.Order(), image.RepoTags.Order());
        Assert.Equal([v1.DigestReference], image.RepoDigests);
        Assert.Single(d.RecordEntries());

        await d.RemoveAsync(v1.Reference);
        Assert.Empty(await d.ListAsync());
        Assert.Null(await d.StatusAsync(v2.Reference));
        Assert.Null(await d.StatusAsync(id));

        // Idempotent: the same tag, the other tag, the id, and an image never pulled.
        await d.RemoveAsync(v1.Reference);
        await d.RemoveAsync(v2.Reference);
        await d.RemoveAsync(id);
        await d.RemoveAsync($"{r.Registry.Host}/crisharp-test/never-pulled:latest");

        Assert.Empty(d.RecordEntries());
        Assert.Empty(d.BlobEntries());
        Assert.Empty(d.LayerEntries());
    }

    [Fact]
    public async Task Removal_collects_only_what_no_other_image_holds()
    {
        using var d = await ImageDaemon.StartAsync();
        var busybox = r["busybox:latest"];
        var twotags = r["twotags:v1"];
        Assert.Equal(busybox.LayerDigests[0], twotags.LayerDigests[0]); // the shared busybox layer

        var busyboxId = await d.PullAsync(busybox.Reference);
        var twotagsId = await d.PullAsync(twotags.Reference);
        var busyboxChains = await d.ChainIdsAsync(busybox.Reference);
        var twotagsChains = await d.ChainIdsAsync(twotags.Reference);
        Assert.Equal(busyboxChains[0], twotagsChains[0]);
        Assert.All(twotagsChains, c => Assert.True(Directory.Exists(d.LayerPath(c)), c));

        await d.RemoveAsync(twotagsId);

        Assert.Equal(busyboxId, Assert.Single(await d.ListAsync()).Id);
        Assert.Equal(busyboxId, (await d.StatusAsync(busybox.Reference))?.Id);
        // Kept: busybox's layer dir and every blob busybox needs.
        Assert.True(Directory.Exists(d.LayerPath(busyboxChains[0])));
        Assert.Equal([ImageDaemon.Hex(busyboxChains[0])], d.LayerEntries());
        Assert.Equal(new[] { busybox.ManifestDigest, busybox.ConfigDigest!, busybox.LayerDigests[0] }.Select(ImageDaemon.Hex).Order(StringComparer.Ordinal),
            d.BlobEntries());
        // Gone: twotags' own layer, config and manifest.
        Assert.False(Directory.Exists(d.LayerPath(twotagsChains[1])));
        Assert.False(File.Exists(d.BlobPath(twotags.LayerDigests[1])));
        Assert.False(File.Exists(d.BlobPath(twotags.ConfigDigest!)));
        Assert.False(File.Exists(d.BlobPath(twotags.ManifestDigest)));

        // busybox still pulls (from its layer on disk) and then removes cleanly.
        Assert.Equal(busyboxId, await d.PullAsync(busybox.Reference));
        await d.RemoveAsync(busybox.Reference);
        Assert.Empty(d.BlobEntries());
        Assert.Empty(d.LayerEntries());
    }
}
