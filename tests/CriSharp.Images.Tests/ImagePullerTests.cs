using CriSharp.Configuration;
using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.Registry;
using CriSharp.TestSupport;
using Xunit;

namespace CriSharp.Images.Tests;

// CriSharp.Images has its own ImageConfig; the test images use TestSupport's.
using ImageConfig = CriSharp.TestSupport.ImageConfig;

/// <summary>Whole pulls from a <see cref="FakeRegistry"/> into a content store, layer store and image store.</summary>
public sealed class ImagePullerTests : IAsyncLifetime, IDisposable
{
    const string Repo = "crisharp-test/puller";
    static readonly OciImage TwoLayers = OciImage.Create(
        [new LayerBuilder().File("etc/first", "first\n").Build(), new LayerBuilder().File("etc/second", "second\n").Build()],
        new ImageConfig { Cmd = ["sh"], User = "1000:1000" });

    readonly string _root = Directory.CreateTempSubdirectory("crisharp-puller-").FullName;
    readonly TestClient _client = new(options: TestClient.Fast);
    readonly ContentStore _content;
    readonly LayerStore _layers;
    readonly ImageStore _images;
    FakeRegistry _fake = null!;

    public ImagePullerTests()
    {
        _content = new ContentStore(_root);
        _layers = new LayerStore(_root);
        _images = new ImageStore(_root, _content, _layers, Serilog.Core.Logger.None);
    }

    public async Task InitializeAsync()
    {
        _fake = await FakeRegistry.StartAsync();
        _fake.Manifest(Repo, "latest", TwoLayers.ManifestBytes, OciMediaTypes.Manifest, TwoLayers.Digest);
        _fake.Manifest(Repo, TwoLayers.Digest, TwoLayers.ManifestBytes, OciMediaTypes.Manifest, TwoLayers.Digest);
        foreach (var blob in TwoLayers.AllBlobs()) _fake.Blob(Repo, blob.Digest, blob.Data);
    }

    public async Task DisposeAsync() => await _fake.DisposeAsync();

    public void Dispose()
    {
        _client.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    ImagePuller Puller() =>
        new(new LiveConfig(new DaemonConfig(), new ConfigSources()), _client.Client, _content, _layers, _images, Serilog.Core.Logger.None);

    Task<ImageRecord> PullAsync(string reference, Dictionary<string, string>? annotations = null) =>
        Puller().PullAsync($"{_fake.Host}/{Repo}{reference}", null, annotations ?? [], default);

    /// <summary>Requests for layer blobs (resolving fetches the config blob on every pull).</summary>
    int LayerRequests() => _fake.Requests.Count(r => TwoLayers.Layers.Any(l => r.Contains(l.Digest, StringComparison.Ordinal)));

    [Fact]
    public async Task A_pull_stores_the_blobs_unpacks_every_layer_and_commits_the_record()
    {
        var record = await PullAsync(":latest", new() { ["note"] = "kept" });

        Assert.Equal(TwoLayers.Config!.Digest, record.Id);
        Assert.Equal([$"{_fake.Host}/{Repo}:latest"], record.RepoTags);
        Assert.Equal([$"{_fake.Host}/{Repo}@{TwoLayers.Digest}"], record.RepoDigests);
        Assert.Equal(TwoLayers.Digest, record.ManifestDigest);
        Assert.Equal(OciMediaTypes.Manifest, record.ManifestMediaType);
        Assert.Equal("1000:1000", record.User);
        Assert.Equal(TwoLayers.Config.Size + TwoLayers.Layers.Sum(l => l.Size), record.Size);
        Assert.Equal([TwoLayers.Digest, TwoLayers.Config.Digest, .. TwoLayers.Layers.Select(l => l.Digest)], record.Blobs);
        var chainIds = LayerStore.ChainIds([.. TwoLayers.Layers.Select(l => Digest.Parse(l.DiffId!))]);
        Assert.Equal(chainIds.Select(c => c.ToString()), record.ChainIds);
        Assert.Equal("kept", record.Annotations["note"]);
        Assert.All(record.Blobs, b => Assert.True(_content.Has(Digest.Parse(b))));
        Assert.Equal("second\n", File.ReadAllText(Path.Combine(_layers.PathOf(chainIds[1]), "etc", "second")));
        Assert.Same(record, _images.Get(record.Id));
        Assert.Equal(2, _content.FetchesStarted);
    }

    [Fact]
    public async Task A_second_pull_downloads_no_layer_and_merges_into_the_record()
    {
        var first = await PullAsync(":latest");
        var requests = LayerRequests();

        var second = await PullAsync($"@{TwoLayers.Digest}");

        Assert.Equal(2, requests);
        Assert.Equal(requests, LayerRequests());
        Assert.Equal(2, _content.FetchesStarted);
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(first.RepoTags, second.RepoTags);
        Assert.Single(_images.List());
    }

    [Fact]
    public async Task A_pull_by_digest_records_no_tag()
    {
        var record = await PullAsync($"@{TwoLayers.Digest}");

        Assert.Empty(record.RepoTags);
        Assert.Equal([$"{_fake.Host}/{Repo}@{TwoLayers.Digest}"], record.RepoDigests);
    }

    [Fact]
    public async Task A_layer_that_cannot_be_fetched_fails_the_pull_and_commits_nothing()
    {
        _fake.Map($"/v2/{Repo}/blobs/{TwoLayers.Layers[1].Digest}", ctx =>
        {
            ctx.Response.StatusCode = 404;
            return Task.CompletedTask;
        });

        var e = await Assert.ThrowsAsync<RegistryException>(() => PullAsync(":latest"));

        Assert.Equal(RegistryErrorKind.NotFound, e.Reason);
        Assert.Empty(_images.List());
    }
}
