using System.Text;
using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.State;
using Xunit;

namespace CriSharp.Images.Tests;

public sealed class ImageStoreTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("crisharp-imagestore-").FullName;
    readonly ContentStore _content;
    readonly LayerStore _layers;

    public ImageStoreTests()
    {
        _content = new ContentStore(_root);
        _layers = new LayerStore(_root);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    string Records => Path.Combine(_root, "images");

    static string Json(ImageRecord? r) => r is null ? "null" : System.Text.Json.JsonSerializer.Serialize(r, ImagesJsonContext.Default.ImageRecord);

    static string[] Json(IEnumerable<ImageRecord> rs) => [.. rs.Select(Json)];

    ImageStore Open() => new(_root, _content, _layers, Serilog.Core.Logger.None);

    ImageStore Recovered()
    {
        var store = Open();
        store.Recover();
        return store;
    }

    /// <summary>An image whose config blob and one layer exist; <paramref name="name"/> makes it distinct.</summary>
    ImageRecord Image(string name, string[]? tags = null, string[]? digests = null, bool withConfig = true, bool withLayer = true)
    {
        var config = Encoding.UTF8.GetBytes($"{{\"os\":\"linux\",\"name\":\"{name}\"}}");
        var configDigest = Digest.Of(config);
        if (withConfig) _content.Put(new Descriptor("application/vnd.oci.image.config.v1+json", configDigest, config.Length), config);
        var chainId = Digest.Of(Encoding.UTF8.GetBytes("layer of " + name));
        if (withLayer) Directory.CreateDirectory(_layers.PathOf(chainId));
        return new ImageRecord
        {
            Id = configDigest.ToString(),
            RepoTags = [.. tags ?? []],
            RepoDigests = [.. digests ?? []],
            ManifestDigest = Digest.Of(Encoding.UTF8.GetBytes("manifest of " + name)).ToString(),
            Blobs = [configDigest.ToString()],
            ChainIds = [chainId.ToString()],
        };
    }

    [Fact]
    public void Recover_drops_records_whose_config_or_layers_are_missing_and_keeps_the_rest()
    {
        var store = Open();
        var whole = store.Commit(Image("whole", ["docker.io/library/whole:latest"]));
        var noConfig = store.Commit(Image("no-config", withConfig: false));
        var noLayer = store.Commit(Image("no-layer", withLayer: false));

        var recovered = Recovered();

        Assert.Equal([Json(whole)], Json(recovered.List()));
        Assert.Null(recovered.Get(noConfig.Id));
        Assert.Null(recovered.Get(noLayer.Id));
        Assert.Equal([whole.Hex + ".json"], Directory.GetFiles(Records).Select(Path.GetFileName));
    }

    [Fact]
    public void Recover_moves_unreadable_records_to_quarantine_and_loads_the_rest()
    {
        var good = Open().Commit(Image("good"));
        var bad = new string('a', 64);
        File.WriteAllText(Path.Combine(Records, bad + ".json"), "{ not json");

        var recovered = Recovered();

        Assert.Equal([Json(good)], Json(recovered.List()));
        var quarantined = Assert.Single(Quarantine.Under(_root).List("images"));
        Assert.Equal(bad, quarantined.Id);
        Assert.Equal("{ not json", File.ReadAllText(quarantined.File));
    }

    [Fact]
    public void Commit_writes_the_record_before_it_returns()
    {
        var committed = Open().Commit(Image("durable", ["docker.io/library/durable:1"]));

        Assert.Equal(Json(committed), Json(Recovered().Get(committed.Id)));
    }

    [Fact]
    public void Commit_merges_tags_and_digests_into_the_record_of_the_same_id()
    {
        var store = Open();
        var first = store.Commit(Image("same", ["docker.io/library/same:1"], ["docker.io/library/same@sha256:" + new string('1', 64)]));
        var again = Image("same", ["docker.io/library/same:2"], ["docker.io/library/same@sha256:" + new string('2', 64)]) with
        {
            Pinned = false,
            PulledAt = first.PulledAt.AddMinutes(1),
        };
        var merged = store.Commit(again);

        Assert.Equal(["docker.io/library/same:1", "docker.io/library/same:2"], merged.RepoTags);
        Assert.Equal(2, merged.RepoDigests.Count);
        Assert.Equal(again.PulledAt, merged.PulledAt);
        Assert.Equal([merged], store.List());
        Assert.Equal(Json(merged), Json(Recovered().Get(merged.Id)));
    }

    [Fact]
    public void Commit_keeps_a_pinned_flag_of_the_existing_record()
    {
        var store = Open();
        store.Commit(Image("pinned") with { Pinned = true });

        Assert.True(store.Commit(Image("pinned")).Pinned);
    }

    [Fact]
    public void Commit_moves_a_tag_away_from_the_image_that_held_it()
    {
        var store = Open();
        var old = store.Commit(Image("old", ["docker.io/library/app:latest", "docker.io/library/app:1"]));
        var fresh = store.Commit(Image("fresh", ["docker.io/library/app:latest"]));

        Assert.Equal(["docker.io/library/app:1"], store.Get(old.Id)!.RepoTags);
        Assert.Equal(fresh.Id, store.Find("app", "docker.io")!.Id);
        var recovered = Recovered();
        Assert.Equal(["docker.io/library/app:1"], recovered.Get(old.Id)!.RepoTags);
        Assert.Equal(fresh.Id, recovered.Find("app:latest", "docker.io")!.Id);
    }

    [Fact]
    public void Find_by_id_bare_hex_and_unique_prefix()
    {
        var store = Open();
        var image = store.Commit(Image("findme"));

        Assert.Equal(image, store.Find(image.Id, "docker.io"));
        Assert.Equal(image, store.Find(image.Hex, "docker.io"));
        Assert.Equal(image, store.Find(image.Hex[..6], "docker.io"));
        Assert.Equal(image, store.Find("sha256:" + image.Hex[..8], "docker.io"));
        Assert.Null(store.Find("sha256:" + new string('0', 64), "docker.io"));
    }

    [Fact]
    public void Find_refuses_an_ambiguous_prefix()
    {
        var store = Open();
        var zero = store.Commit(Image("zero") with { Id = "sha256:abcdef0" + new string('0', 57) });
        store.Commit(Image("one") with { Id = "sha256:abcdef1" + new string('0', 57) });

        Assert.Null(store.Find("abcdef", "docker.io"));
        Assert.Null(store.Find("sha256:abcdef", "docker.io"));
        Assert.Equal(zero, store.Find("abcdef0", "docker.io"));
    }

    [Fact]
    public void Find_by_tag_and_by_digest_reference_normalised_against_the_default_registry()
    {
        var store = Open();
        var digest = "sha256:" + new string('d', 64);
        var image = store.Commit(Image("named", ["registry.test/team/app:v1"], [$"registry.test/team/app@{digest}"]));

        Assert.Equal(image, store.Find("team/app:v1", "registry.test"));
        Assert.Equal(image, store.Find("registry.test/team/app:v1", "docker.io"));
        Assert.Equal(image, store.Find($"team/app@{digest}", "registry.test"));
        Assert.Null(store.Find("team/app:v2", "registry.test"));
        Assert.Null(store.Find("team/app:v1", "docker.io"));
        Assert.Null(store.Find("not a reference", "docker.io"));
    }

    [Fact]
    public void Get_takes_the_full_id_only()
    {
        var store = Open();
        var image = store.Commit(Image("exact"));

        Assert.Equal(image, store.Get(image.Id));
        Assert.Null(store.Get(image.Hex));
        Assert.Null(store.Get("sha256:" + image.Hex[..10]));
        Assert.Null(store.Get(""));
    }

    [Fact]
    public void Remove_deletes_the_record_once()
    {
        var store = Open();
        var image = store.Commit(Image("doomed", ["docker.io/library/doomed:latest"]));

        Assert.True(store.Remove(image.Id));
        Assert.False(store.Remove(image.Id));
        Assert.Null(store.Get(image.Id));
        Assert.Null(store.Find("doomed", "docker.io"));
        Assert.Empty(Directory.GetFiles(Records));
        Assert.Empty(Recovered().List());
    }

    [Fact]
    public void Remove_of_an_unknown_or_malformed_id_is_false()
    {
        var store = Open();
        var image = store.Commit(Image("kept"));

        Assert.False(store.Remove(image.Hex));
        Assert.False(store.Remove("sha256:" + new string('e', 64)));
        Assert.False(store.Remove("sha256:../../etc/passwd"));
        Assert.False(store.Remove(""));
        Assert.Equal([image], store.List());
    }

    [Fact]
    public void Collect_garbage_keeps_what_images_pulls_and_containers_use()
    {
        var inUse = Image("in-use");
        var store = new ImageStore(_root, _content, _layers, Serilog.Core.Logger.None, new HeldLayers(inUse.ChainIds));
        var kept = store.Commit(Image("kept"));
        var gone = Image("gone");
        var pinned = Image("pinned");

        using (store.Pin([.. pinned.Blobs, .. pinned.ChainIds]))
        {
            Assert.Equal((2, 1), store.CollectGarbage());
            Assert.True(_content.Has(Digest.Parse(pinned.Id)));
            Assert.True(_layers.Has(Digest.Parse(pinned.ChainIds[0])));
        }
        Assert.True(_content.Has(Digest.Parse(kept.Id)));
        Assert.True(_layers.Has(Digest.Parse(kept.ChainIds[0])));
        Assert.True(_layers.Has(Digest.Parse(inUse.ChainIds[0])));
        Assert.False(_content.Has(Digest.Parse(inUse.Id)));
        Assert.False(_content.Has(Digest.Parse(gone.Id)));
        Assert.False(_layers.Has(Digest.Parse(gone.ChainIds[0])));

        Assert.Equal((1, 1), store.CollectGarbage());
        Assert.False(_content.Has(Digest.Parse(pinned.Id)));
        Assert.True(_content.Has(Digest.Parse(kept.Id)));
    }

    [Fact]
    public void Collect_garbage_after_remove_frees_the_image()
    {
        var store = Open();
        var image = store.Commit(Image("removed"));
        store.Remove(image.Id);

        Assert.Equal((1, 1), store.CollectGarbage());
        Assert.Empty(_content.List());
        Assert.Empty(_layers.List());
    }

    [Fact]
    public async Task Concurrent_commits_that_move_one_tag_leave_it_on_exactly_one_image()
    {
        var store = Open();
        var images = Enumerable.Range(0, 8).Select(i => Image($"racer-{i}", ["docker.io/library/racer:latest", $"docker.io/library/racer:{i}"])).ToList();

        await Task.WhenAll(images.Select(i => Task.Run(() => store.Commit(i))));

        Assert.Single(store.List(), r => r.RepoTags.Contains("docker.io/library/racer:latest"));
        Assert.Single(Recovered().List(), r => r.RepoTags.Contains("docker.io/library/racer:latest"));
        Assert.Equal(8, store.List().Count);
    }

    /// <summary>Containers that hold these layers and mount no image.</summary>
    sealed class HeldLayers(IEnumerable<string> chainIds) : IImageUsers
    {
        public IReadOnlySet<string> LayersInUse() => new HashSet<string>(chainIds);

        public string? VolumeUserOf(string imageId) => null;
    }
}
