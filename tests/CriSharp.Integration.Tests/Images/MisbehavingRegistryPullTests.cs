using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using CriSharp.TestSupport;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Images;

/// <summary>Registries that lie or stall (scripted on the in-process <see cref="FakeRegistry"/>), pulled through the daemon.</summary>
public sealed class MisbehavingRegistryPullTests : IAsyncLifetime
{
    const string Repo = "crisharp-test/tiny";
    // Random content does not compress: the layer blob is ~256 KiB, enough to stop half way.
    static readonly OciImage Tiny = OciImage.Create(
        [new LayerBuilder().File("data.bin", RandomNumberGenerator.GetBytes(256 * 1024)).Build(CompressionLevel.Fastest)],
        new ImageConfig { Cmd = ["sh"] });
    static OciBlob Layer => Tiny.Layers[0];

    FakeRegistry _fake = null!;
    string Reference => $"{_fake.Host}/{Repo}:latest";

    public async Task InitializeAsync()
    {
        _fake = await FakeRegistry.StartAsync();
        _fake.Manifest(Repo, "latest", Tiny.ManifestBytes, OciMediaTypes.Manifest, Tiny.Digest);
        _fake.Blob(Repo, Tiny.Config!.Digest, Tiny.Config.Data);
    }

    public async Task DisposeAsync() => await _fake.DisposeAsync();

    static async Task AssertNothingPulledAsync(ImageDaemon d)
    {
        Assert.Empty(await d.ListAsync());
        Assert.Empty(d.RecordEntries());
        Assert.False(File.Exists(d.BlobPath(Layer.Digest)), "the layer blob must not exist under its final name");
        Assert.DoesNotContain(d.LayerEntries(), e => e.StartsWith(".tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Blob_whose_bytes_do_not_match_its_digest_is_refused()
    {
        var corrupt = (byte[])Layer.Data.Clone();
        corrupt[corrupt.Length / 2] ^= 0xFF; // same size, different digest
        _fake.Blob(Repo, Layer.Digest, corrupt);
        using var d = await ImageDaemon.StartAsync();

        var e = await d.PullFailsAsync(Reference);

        Assert.True(e.StatusCode is StatusCode.DataLoss or StatusCode.FailedPrecondition, e.ToString());
        Assert.Contains(Layer.Digest, e.Status.Detail);
        await AssertNothingPulledAsync(d);
        Assert.DoesNotContain(ImageDaemon.Hex(Layer.Digest) + ".partial", d.IngestEntries()); // garbage is not kept for resuming
        Assert.Empty(d.LayerEntries());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Manifest_over_4_MiB_is_refused(bool withContentLength)
    {
        var padding = new string('x', 4 * 1024 * 1024);
        var manifest = Encoding.UTF8.GetBytes(
            $"{{\"schemaVersion\":2,\"mediaType\":\"{OciMediaTypes.Manifest}\",\"config\":{Tiny.Config!.Descriptor().ToJsonString()}," +
            $"\"layers\":[{Layer.Descriptor().ToJsonString()}],\"annotations\":{{\"pad\":\"{padding}\"}}}}");
        if (withContentLength)
            _fake.Manifest(Repo, "big", manifest, OciMediaTypes.Manifest);
        else
            _fake.Map($"/v2/{Repo}/manifests/big", async ctx =>
            {
                ctx.Response.ContentType = OciMediaTypes.Manifest;
                for (var offset = 0; offset < manifest.Length; offset += 64 * 1024)
                    await ctx.Response.Body.WriteAsync(manifest.AsMemory(offset, Math.Min(64 * 1024, manifest.Length - offset)));
            });
        _fake.Blob(Repo, Layer.Digest, Layer.Data);
        using var d = await ImageDaemon.StartAsync();

        var e = await d.PullFailsAsync($"{_fake.Host}/{Repo}:big");

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("limit", e.Status.Detail);
        await AssertNothingPulledAsync(d);
        Assert.Empty(d.BlobEntries());
        Assert.DoesNotContain(_fake.Requests, r => r.StartsWith($"GET /v2/{Repo}/blobs/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Registry_that_stalls_mid_blob_fails_DeadlineExceeded_within_the_progress_window()
    {
        _fake.Map($"/v2/{Repo}/blobs/{Layer.Digest}", async ctx =>
        {
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.ContentLength = Layer.Data.Length - FakeRegistry.RangeStart(ctx);
            await ctx.Response.Body.WriteAsync(Layer.Data.AsMemory(FakeRegistry.RangeStart(ctx), Layer.Data.Length / 2));
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        });
        using var d = await ImageDaemon.StartAsync("""
            [images]
            pull_progress_window_seconds = 2
            """);

        var clock = Stopwatch.StartNew();
        var e = await d.PullFailsAsync(Reference);
        clock.Stop();

        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10));
        Assert.Contains("stalled", e.Status.Detail);
        Assert.Contains(Layer.Digest, e.Status.Detail);
        await AssertNothingPulledAsync(d);
    }
}
