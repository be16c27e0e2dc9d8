using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.TestSupport;

namespace CriSharp.Integration.Tests.Images;

/// <summary>The basic pull → list → status → remove cycle through the daemon's socket.</summary>
public sealed class ImagePullSmokeTests : IAsyncLifetime
{
    readonly DaemonProcess _daemon = new();
    RegistryFixture _registry = null!;
    IReadOnlyDictionary<string, BuiltImage> _images = null!;
    ImageService.ImageServiceClient _client = null!;

    public async Task InitializeAsync()
    {
        _registry = await RegistryFixture.Anonymous();
        _images = await TestImages.PushDefaultAsync(_registry);
        await _daemon.StartServingAsync();
        _client = new ImageService.ImageServiceClient(_daemon.Channel());
    }

    public async Task DisposeAsync()
    {
        _daemon.Dispose();
        await _registry.DisposeAsync();
    }

    [Fact]
    public async Task Pull_list_status_remove()
    {
        var busybox = _images["busybox:latest"];
        var pulled = await _client.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = busybox.Reference } });
        Assert.StartsWith("sha256:", pulled.ImageRef);

        var list = await _client.ListImagesAsync(new ListImagesRequest());
        var image = Assert.Single(list.Images);
        Assert.Equal(pulled.ImageRef, image.Id);
        Assert.Contains(busybox.Reference, image.RepoTags);
        Assert.Contains(busybox.DigestReference, image.RepoDigests);

        var status = await _client.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = busybox.DigestReference }, Verbose = true });
        Assert.Equal(pulled.ImageRef, status.Image.Id);
        Assert.Contains("diff_ids", status.Info["info"]);

        var fs = await _client.ImageFsInfoAsync(new ImageFsInfoRequest());
        Assert.True(fs.ImageFilesystems[0].UsedBytes.Value > 1_000_000);

        await _client.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = busybox.Reference } });
        await _client.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = busybox.Reference } });
        Assert.Empty((await _client.ListImagesAsync(new ListImagesRequest())).Images);
        Assert.Null((await _client.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = pulled.ImageRef } })).Image);
        Assert.Empty(Directory.GetFiles(Path.Combine(_daemon.Dir, "root/blobs/sha256")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_daemon.Dir, "root/layers")));
    }
}
