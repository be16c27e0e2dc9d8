namespace CriSharp.Integration.Tests.Images;

/// <summary>Mirrors configured in the daemon's config file: the image is fetched from the mirror but recorded under its own name.</summary>
public sealed class RegistryMirrorPullTests(DefaultImagesRegistry r) : IClassFixture<DefaultImagesRegistry>
{
    [Fact]
    public async Task Mirrors_only_registry_is_pulled_from_the_mirror_and_listed_under_the_upstream_name()
    {
        using var d = await ImageDaemon.StartAsync($"""
            [registries.hosts."registry.k8s.io"]
            mirrors = ["http://{r.Registry.Host}"]
            mirrors_only = true
            """);
        var busybox = r["busybox:latest"];
        var logBefore = new FileInfo(r.Registry.LogPath).Length;

        var id = await d.PullAsync("registry.k8s.io/crisharp-test/busybox:latest");

        Assert.Equal(busybox.ConfigDigest, id);
        var image = Assert.Single(await d.ListAsync());
        Assert.Equal(["registry.k8s.io/crisharp-test/busybox:latest"], image.RepoTags);
        Assert.Equal([$"registry.k8s.io/crisharp-test/busybox@{busybox.ManifestDigest}"], image.RepoDigests);
        Assert.Equal(id, (await d.StatusAsync($"registry.k8s.io/crisharp-test/busybox@{busybox.ManifestDigest}"))?.Id);
        // The content really came from the mirror.
        var log = ImageTests.ReadFrom(r.Registry.LogPath, logBefore);
        Assert.Contains($"\"GET /v2/crisharp-test/busybox/blobs/{busybox.LayerDigests[0]} ", log);
    }
}
