using CriSharp.Api.V1;
using CriSharp.TestSupport;

namespace CriSharp.Integration.Tests.Images;

/// <summary>
/// What a pull returns and what ListImages/ImageStatus then report: ids, tags, digests, users and the
/// unpacked layers, for every default test image, through the daemon's socket.
/// </summary>
public sealed class ImagePullIdentityTests(ImagePullIdentityTests.Fixture fixture) : IClassFixture<ImagePullIdentityTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public DefaultImagesRegistry Registry { get; } = new();

        public async Task InitializeAsync()
        {
            await Registry.InitializeAsync();
            var busyboxLayer = TestImages.Get(TestImages.Busybox).Layers[0];
            await Registry.PushAsync("numeric", OciImage.Create([busyboxLayer], new ImageConfig { User = "1234", Cmd = ["id"] }), "uid");
            await Registry.PushAsync("numeric", OciImage.Create([busyboxLayer], new ImageConfig { User = "1234:5678", Cmd = ["id"] }), "uidgid");
        }

        public Task DisposeAsync() => Registry.DisposeAsync();
    }

    DefaultImagesRegistry R => fixture.Registry;

    [Fact]
    public async Task Every_default_image_pulls_by_tag_digest_and_tag_at_digest_with_config_digest_id_tags_and_digests()
    {
        using var d = await ImageDaemon.StartAsync();
        // The expected store, updated after each pull: id -> (repo tags, repo digests).
        var model = new Dictionary<string, (SortedSet<string> Tags, SortedSet<string> Digests)>();
        foreach (var image in R.Images.Values)
        {
            var id = ImageTests.ExpectedId(image);
            var repoDigest = image.DigestReference; // for an index: the index digest, not the child's
            var tagAtDigest = $"{image.Host}/{image.Repository}:{image.Tag}@{image.ManifestDigest}";
            // Digest forms first: they must not create a tag (a tag given next to a digest is not verified).
            foreach (var (reference, tag) in new[] { (image.DigestReference, (string?)null), (tagAtDigest, null), (image.Reference, image.Reference) })
            {
                var imageRef = await d.PullAsync(reference);
                Assert.Equal(id, imageRef);
                if (!model.TryGetValue(id, out var entry)) model[id] = entry = ([], []);
                entry.Digests.Add(repoDigest);
                if (tag != null) entry.Tags.Add(tag);

                var status = await d.StatusAsync(reference);
                Assert.NotNull(status);
                Assert.Equal(imageRef, status.Id);
                Assert.Equal(imageRef, Assert.Single(await d.ListAsync(reference)).Id);

                var listed = (await d.ListAsync()).ToDictionary(i => i.Id, i => (Tags: i.RepoTags.Order(StringComparer.Ordinal).ToList(), Digests: i.RepoDigests.Order(StringComparer.Ordinal).ToList()));
                Assert.Equal(model.Keys.Order(StringComparer.Ordinal), listed.Keys.Order(StringComparer.Ordinal));
                foreach (var (mid, (tags, digests)) in model)
                {
                    Assert.Equal([.. tags], listed[mid].Tags);
                    Assert.Equal([.. digests], listed[mid].Digests);
                }
            }
        }
        // twotags:v1 and v2 are one image; busybox and multiarch (amd64 child = the busybox manifest) are one image.
        Assert.Equal(R.Images.Count - 2, model.Count);
        var stream = await d.StreamAsync();
        Assert.Equal((await d.ListAsync()).Select(i => i.ToString()), stream.Select(i => i.ToString()));
    }

    [Fact]
    public async Task Multiarch_index_yields_the_amd64_busybox_image_recorded_under_the_index_digest()
    {
        using var d = await ImageDaemon.StartAsync();
        var multiarch = R["multiarch:latest"];
        var busybox = R["busybox:latest"];
        var amd64 = multiarch.Children.Single(c => c.Platform!.Architecture == "amd64");
        Assert.Equal(busybox.ManifestDigest, amd64.ManifestDigest); // the amd64 child IS the busybox manifest

        var id = await d.PullAsync(multiarch.Reference);
        Assert.Equal(busybox.ConfigDigest, id);
        var image = Assert.Single(await d.ListAsync());
        Assert.Equal([multiarch.Reference], image.RepoTags);
        Assert.Equal([multiarch.DigestReference], image.RepoDigests);
        Assert.NotEqual(multiarch.ManifestDigest, amd64.ManifestDigest);
        var info = await d.VerboseInfoAsync(multiarch.Reference);
        Assert.Equal(amd64.ManifestDigest, info.GetProperty("manifestDigest").GetString());
        Assert.Equal("amd64", info.GetProperty("config").GetProperty("architecture").GetString());
        Assert.Equal(busybox.DiffIds, info.GetProperty("chainIds").EnumerateArray().Select(e => e.GetString()));
        // The arm64 child was not downloaded.
        var arm64 = multiarch.Children.Single(c => c.Platform!.Architecture == "arm64");
        Assert.False(File.Exists(d.BlobPath(arm64.LayerDigests[0])));

        // Pulling busybox now merges into the same image.
        Assert.Equal(id, await d.PullAsync(busybox.Reference));
        image = Assert.Single(await d.ListAsync());
        Assert.Equal(new[] { busybox.Reference, multiarch.Reference }.Order(), image.RepoTags.Order());
        Assert.Equal(new[] { busybox.DigestReference, multiarch.DigestReference }.Order(), image.RepoDigests.Order());
    }

    [Fact]
    public async Task Image_user_is_reported_as_username_or_uid()
    {
        using var d = await ImageDaemon.StartAsync();
        var host = R.Registry.Host;

        await d.PullAsync(R["nonroot:latest"].Reference);
        var nonroot = await d.StatusAsync(R["nonroot:latest"].Reference);
        Assert.Equal("app", nonroot!.Username);
        Assert.Null(nonroot.Uid);

        foreach (var tag in new[] { "uid", "uidgid" })
        {
            var reference = $"{host}/crisharp-test/numeric:{tag}";
            await d.PullAsync(reference);
            var numeric = await d.StatusAsync(reference);
            Assert.Equal(1234, numeric!.Uid?.Value);
            Assert.Equal("", numeric.Username);
        }

        await d.PullAsync(R["busybox:latest"].Reference);
        var busybox = await d.StatusAsync(R["busybox:latest"].Reference);
        Assert.Null(busybox!.Uid);
        Assert.Equal("", busybox.Username);
    }

    [Fact]
    public async Task Layered_image_layers_mount_as_an_overlay_with_whiteouts_and_opaque_dirs_applied()
    {
        using var d = await ImageDaemon.StartAsync();
        var layered = R["layered:latest"];
        await d.PullAsync(layered.Reference);
        var chainIds = await d.ChainIdsAsync(layered.Reference);
        Assert.Equal(3, chainIds.Count);
        Assert.Equal(layered.DiffIds[0], chainIds[0]); // chain(0) = diff(0)
        var lowers = chainIds.Reverse().Select(d.LayerPath).ToList(); // overlay lowerdir: top first
        Assert.All(lowers, l => Assert.True(Directory.Exists(l), l));

        var mnt = Directory.CreateTempSubdirectory("crisharp-it-mnt-").FullName;
        var mounted = false;
        try
        {
            ImageTests.Run("mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir=" + string.Join(':', lowers), mnt);
            mounted = true;
            Assert.False(File.Exists(Path.Combine(mnt, "data/a")), "/data/a was whited out by layer 3");
            Assert.Equal("b from layer 3\n", File.ReadAllText(Path.Combine(mnt, "data/b")));
            Assert.Equal("x from layer 2\n", File.ReadAllText(Path.Combine(mnt, "data/dir/x")));
            Assert.Equal(["new"], Directory.EnumerateFileSystemEntries(Path.Combine(mnt, "opaque")).Select(Path.GetFileName));
            Assert.True(File.Exists(Path.Combine(mnt, "bin/busybox")));
            Assert.Equal("busybox", new FileInfo(Path.Combine(mnt, "bin/sh")).LinkTarget);
        }
        finally
        {
            if (mounted) ImageTests.Run("umount", mnt);
            Directory.Delete(mnt);
        }
    }
}
