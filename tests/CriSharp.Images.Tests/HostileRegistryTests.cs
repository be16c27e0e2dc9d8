using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using CriSharp.Images.Content;
using CriSharp.Images.References;
using CriSharp.Images.Registry;
using CriSharp.TestSupport;
using Microsoft.AspNetCore.Http;
using RegistryCredentials = CriSharp.Images.Registry.RegistryCredentials;

namespace CriSharp.Images.Tests;

// CriSharp.Images has its own ImageConfig; the test images use TestSupport's.
using ImageConfig = CriSharp.TestSupport.ImageConfig;

/// <summary>Failure and hostile behaviour, scripted on a <see cref="FakeRegistry"/>.</summary>
public sealed class HostileRegistryTests : IAsyncLifetime
{
    private const string Repo = "crisharp-test/tiny";
    private static readonly OciImage Tiny = OciImage.Create([new LayerBuilder().File("hello", "hello\n").Build()], new ImageConfig { Cmd = ["sh"] });
    private static readonly byte[] Big = RandomNumberGenerator.GetBytes(256 * 1024);
    private static readonly Descriptor BigBlob = new("application/octet-stream", Digest.Of(Big), Big.Length);

    private FakeRegistry _fake = null!;

    public async Task InitializeAsync()
    {
        _fake = await FakeRegistry.StartAsync();
        ServeTiny(_fake);
    }

    public async Task DisposeAsync() => await _fake.DisposeAsync();

    private static void ServeTiny(FakeRegistry fake)
    {
        fake.Manifest(Repo, "latest", Tiny.ManifestBytes, OciMediaTypes.Manifest, Tiny.Digest);
        fake.Manifest(Repo, Tiny.Digest, Tiny.ManifestBytes, OciMediaTypes.Manifest, Tiny.Digest);
        foreach (var blob in Tiny.AllBlobs()) fake.Blob(Repo, blob.Digest, blob.Data);
    }

    private string BlobPath(Descriptor d) => $"/v2/{Repo}/blobs/{d.Digest}";
    private ImageReference Ref(string tagOrDigest = "latest") =>
        ImageReference.Parse(tagOrDigest.StartsWith("sha256:") ? $"{_fake.Host}/{Repo}@{tagOrDigest}" : $"{_fake.Host}/{Repo}:{tagOrDigest}");

    private static TestClient Client(TimeSpan? window = null, long minBytesPerSecond = 1) => new(options: TestClient.Fast with
    {
        ProgressWindow = window ?? TimeSpan.FromSeconds(1),
        MinBytesPerSecond = minBytesPerSecond,
    });

    private async Task<RegistryException> FetchBigFailsAsync(TestClient client)
    {
        var image = await client.Client.ResolveAsync(Ref(), null, default);
        return await Assert.ThrowsAsync<RegistryException>(() => client.FetchAsync(image, BigBlob));
    }

    private async Task<RegistryException> ResolveFailsAsync(string reference = "latest")
    {
        using var client = Client();
        return await Assert.ThrowsAsync<RegistryException>(() => client.Client.ResolveAsync(Ref(reference), null, default));
    }

    [Fact]
    public async Task Resolves_and_fetches_from_the_fake()
    {
        using var client = Client();
        var image = await client.Client.ResolveAsync(Ref(), null, default);
        Assert.Equal(Tiny.Digest, image.ManifestDigest.ToString());
        Assert.Equal(Tiny.Layers[0].Data, await client.FetchAsync(image, image.Layers[0]));
    }

    [Fact]
    public async Task Blob_that_stops_half_way_is_Stalled_within_the_window()
    {
        _fake.Map(BlobPath(BigBlob), async ctx =>
        {
            ctx.Response.ContentLength = Big.Length;
            await ctx.Response.Body.WriteAsync(Big.AsMemory(0, Big.Length / 2));
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        });
        using var client = Client(TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        var e = await FetchBigFailsAsync(client);
        Assert.Equal(RegistryErrorKind.Stalled, e.Reason);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Contains(BigBlob.Digest.ToString(), e.Message);
        Assert.Contains($"received {Big.Length / 2} of {Big.Length} bytes", e.Message);
        Assert.Contains("1 s window", e.Message);
    }

    [Fact]
    public async Task Server_that_never_answers_is_Stalled()
    {
        _fake.Map(BlobPath(BigBlob), ctx => Task.Delay(Timeout.Infinite, ctx.RequestAborted));
        using var client = Client(TimeSpan.FromSeconds(1));
        var e = await FetchBigFailsAsync(client);
        Assert.Equal(RegistryErrorKind.Stalled, e.Reason);
        Assert.Contains($"received 0 of {Big.Length} bytes", e.Message);
    }

    [Fact]
    public async Task Trickle_below_the_minimum_throughput_is_Stalled()
    {
        _fake.Map(BlobPath(BigBlob), async ctx =>
        {
            ctx.Response.ContentLength = Big.Length;
            for (int offset = 0; offset < Big.Length; offset += 16)
            {
                await ctx.Response.Body.WriteAsync(Big.AsMemory(offset, 16), ctx.RequestAborted);
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                await Task.Delay(50, ctx.RequestAborted); // ~320 B/s
            }
        });
        using var client = Client(TimeSpan.FromSeconds(1), minBytesPerSecond: 10_000);
        var clock = Stopwatch.StartNew();
        var e = await FetchBigFailsAsync(client);
        Assert.Equal(RegistryErrorKind.Stalled, e.Reason);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Contains("at least 10000 required", e.Message);
    }

    [Fact]
    public async Task Dropped_connection_is_resumed_with_a_range_request()
    {
        int calls = 0;
        _fake.Map(BlobPath(BigBlob), async ctx =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                ctx.Response.ContentLength = Big.Length;
                await ctx.Response.Body.WriteAsync(Big.AsMemory(0, Big.Length / 2));
                await ctx.Response.Body.FlushAsync();
                await Task.Delay(300);
                ctx.Abort();
                return;
            }
            await FakeRegistry.ServeRangeAsync(ctx, Big);
        });
        using var client = Client();
        var image = await client.Client.ResolveAsync(Ref(), null, default);
        Assert.Equal(Big, await client.FetchAsync(image, BigBlob));
        Assert.Equal(2, calls);
        Assert.Contains(_fake.Requests, r => r.StartsWith($"GET {BlobPath(BigBlob)} bytes={Big.Length / 2}-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Server_ignoring_the_range_restarts_from_zero()
    {
        _fake.Map(BlobPath(BigBlob), async ctx =>
        {
            ctx.Response.ContentLength = Big.Length;
            await ctx.Response.Body.WriteAsync(Big);
        });
        using var client = Client();
        var image = await client.Client.ResolveAsync(Ref(), null, default);
        var target = client.Target(BigBlob);
        await File.WriteAllBytesAsync(target.Path, new byte[1000]); // garbage from an "earlier attempt"
        await client.Client.FetchBlobAsync(image, BigBlob, target, default);
        Assert.Equal(Big, await File.ReadAllBytesAsync(target.Path));
        Assert.Contains(_fake.Requests, r => r.Contains("bytes=1000-"));
    }

    [Fact]
    public async Task Server_errors_are_retried()
    {
        int calls = 0;
        _fake.Map(BlobPath(BigBlob), async ctx =>
        {
            if (Interlocked.Increment(ref calls) <= 2)
            {
                ctx.Response.StatusCode = 503;
                return;
            }
            await FakeRegistry.ServeRangeAsync(ctx, Big);
        });
        using var client = Client();
        var image = await client.Client.ResolveAsync(Ref(), null, default);
        Assert.Equal(Big, await client.FetchAsync(image, BigBlob));
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task Persistent_server_errors_give_up_as_Network()
    {
        int calls = 0;
        _fake.Map(BlobPath(BigBlob), ctx =>
        {
            Interlocked.Increment(ref calls);
            ctx.Response.StatusCode = 500;
            return Task.CompletedTask;
        });
        using var client = Client(TimeSpan.FromSeconds(10));
        var e = await FetchBigFailsAsync(client);
        Assert.Equal(RegistryErrorKind.Network, e.Reason);
        Assert.Contains("HTTP 500", e.Message);
        Assert.Equal(TestClient.Fast.MaxAttempts, calls);
    }

    [Fact]
    public async Task Missing_blob_is_NotFound()
    {
        using var client = Client();
        var e = await FetchBigFailsAsync(client);
        Assert.Equal(RegistryErrorKind.NotFound, e.Reason);
        Assert.Contains(BigBlob.Digest.ToString(), e.Message);
        Assert.Contains(Repo, e.Message);
    }

    [Fact]
    public async Task Blob_with_a_larger_content_length_is_Hostile()
    {
        _fake.Map(BlobPath(BigBlob), async ctx =>
        {
            ctx.Response.ContentLength = Big.Length + 10;
            await ctx.Response.Body.WriteAsync(Big);
            await ctx.Response.Body.WriteAsync(new byte[10]);
        });
        using var client = Client();
        var e = await FetchBigFailsAsync(client);
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
        Assert.Contains(BigBlob.Digest.ToString(), e.Message);
    }

    [Fact]
    public async Task Blob_streamed_beyond_its_size_is_Hostile()
    {
        _fake.Map(BlobPath(BigBlob), async ctx =>
        {
            // No Content-Length: chunked, so only counting the bytes notices.
            await ctx.Response.Body.WriteAsync(Big);
            await ctx.Response.Body.WriteAsync(new byte[4096]);
        });
        using var client = Client();
        var e = await FetchBigFailsAsync(client);
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
        Assert.Contains($"more than the {Big.Length} bytes", e.Message);
    }

    [Fact]
    public async Task Redirect_to_another_host_drops_the_authorization_header()
    {
        await using var storage = await FakeRegistry.StartAsync();
        storage.Map("/storage/big", ctx => FakeRegistry.ServeRangeAsync(ctx, Big));
        var credentials = new RegistryCredentials("user", "pass", null, null);
        _fake.RequiredAuthorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:pass"));
        _fake.Map(BlobPath(BigBlob), ctx =>
        {
            ctx.Response.StatusCode = 307;
            ctx.Response.Headers.Location = $"http://{storage.Host}/storage/big";
            return Task.CompletedTask;
        });
        using var client = Client();
        var image = await client.Client.ResolveAsync(Ref(), credentials, default);
        Assert.Equal(Big, await client.FetchAsync(image, BigBlob));
        Assert.Contains(_fake.Requests, r => r.StartsWith($"GET {BlobPath(BigBlob)}") && r.EndsWith("[auth]"));
        Assert.Equal("GET /storage/big", Assert.Single(storage.Requests));
    }

    [Fact]
    public async Task Manifest_over_4_MiB_is_Hostile()
    {
        var huge = new byte[4 * 1024 * 1024 + 1];
        Array.Fill(huge, (byte)' ');
        _fake.Manifest(Repo, "huge", huge, OciMediaTypes.Manifest);
        var e = await ResolveFailsAsync("huge");
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
        Assert.Contains("4194304-byte limit", e.Message);
        Assert.Contains("huge", e.Message);
    }

    [Fact]
    public async Task Chunked_manifest_over_4_MiB_is_Hostile()
    {
        _fake.Map($"/v2/{Repo}/manifests/endless", async ctx =>
        {
            ctx.Response.ContentType = OciMediaTypes.Manifest;
            var chunk = new byte[64 * 1024];
            for (int i = 0; i < 100 && !ctx.RequestAborted.IsCancellationRequested; i++)
                await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
        });
        var e = await ResolveFailsAsync("endless");
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
        Assert.Contains("4194304-byte limit", e.Message);
    }

    [Fact]
    public async Task Manifest_not_matching_the_requested_digest_is_Hostile()
    {
        var other = OciImage.Create([new LayerBuilder().File("other", "x").Build()], new ImageConfig());
        _fake.Manifest(Repo, Tiny.Digest, other.ManifestBytes, OciMediaTypes.Manifest);
        var e = await ResolveFailsAsync(Tiny.Digest);
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
        Assert.Contains(Tiny.Digest, e.Message);
        Assert.Contains(other.Digest, e.Message);
    }

    [Fact]
    public async Task Manifest_not_matching_Docker_Content_Digest_is_Hostile()
    {
        var other = OciImage.Create([new LayerBuilder().File("other", "x").Build()], new ImageConfig());
        _fake.Manifest(Repo, "liar", other.ManifestBytes, OciMediaTypes.Manifest, contentDigest: Tiny.Digest);
        var e = await ResolveFailsAsync("liar");
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
        Assert.Contains("Docker-Content-Digest", e.Message);
    }

    [Theory]
    [InlineData("application/vnd.docker.distribution.manifest.v1+prettyjws")]
    [InlineData("application/vnd.docker.distribution.manifest.v1+json")]
    [InlineData("application/json")]
    public async Task Schema1_manifest_is_Unsupported(string contentType)
    {
        var schema1 = FakeRegistry.Utf8("{\"schemaVersion\":1,\"name\":\"crisharp-test/tiny\",\"tag\":\"old\",\"architecture\":\"amd64\",\"fsLayers\":[],\"history\":[]}");
        _fake.Manifest(Repo, "old", schema1, contentType);
        var e = await ResolveFailsAsync("old");
        Assert.Equal(RegistryErrorKind.Unsupported, e.Reason);
        Assert.Contains("schema 1", e.Message);
    }

    [Fact]
    public async Task Unknown_media_type_is_Unsupported()
    {
        _fake.Manifest(Repo, "odd", Tiny.ManifestBytes, "application/vnd.example.thing+json");
        var e = await ResolveFailsAsync("odd");
        Assert.Equal(RegistryErrorKind.Unsupported, e.Reason);
        Assert.Contains("application/vnd.example.thing+json", e.Message);
    }

    [Fact]
    public async Task Garbage_manifest_is_Hostile()
    {
        _fake.Manifest(Repo, "garbage", FakeRegistry.Utf8("{not json"), OciMediaTypes.Manifest);
        var e = await ResolveFailsAsync("garbage");
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
    }

    [Fact]
    public async Task Index_without_linux_amd64_is_NotFound_listing_platforms()
    {
        var arm = OciImage.Create([new LayerBuilder().File("arm", "x").Build()], new ImageConfig { Platform = new OciPlatform("linux", "arm64", "v8") });
        var index = OciImage.CreateIndex([(arm, new OciPlatform("linux", "arm64", "v8"))]);
        _fake.Manifest(Repo, "armonly", index.ManifestBytes, OciMediaTypes.Index);
        var e = await ResolveFailsAsync("armonly");
        Assert.Equal(RegistryErrorKind.NotFound, e.Reason);
        Assert.Contains("linux/arm64/v8", e.Message);
    }

    [Fact]
    public async Task Index_prefers_amd64_without_variant()
    {
        var variant = OciImage.Create([new LayerBuilder().File("v2", "x").Build()], new ImageConfig());
        var index = OciImage.CreateIndex([(variant, new OciPlatform("linux", "amd64", "v3")), (Tiny, new OciPlatform("linux", "amd64"))]);
        _fake.Manifest(Repo, "multi", index.ManifestBytes, OciMediaTypes.Index);
        using var client = Client();
        var image = await client.Client.ResolveAsync(Ref("multi"), null, default);
        Assert.Equal(Tiny.Digest, image.ManifestDigest.ToString());
        Assert.Equal(index.Digest, image.IndexDigest?.ToString());
    }

    [Fact]
    public async Task Config_blob_with_wrong_content_is_Hostile()
    {
        var config = Tiny.Config!;
        _fake.Blob(Repo, config.Digest, config.Data.Select(b => (byte)(b ^ 1)).ToArray());
        var e = await ResolveFailsAsync();
        Assert.Equal(RegistryErrorKind.Hostile, e.Reason);
        Assert.Contains(config.Digest, e.Message);
    }
}
