using CriSharp.Images.Content;
using CriSharp.Images.References;
using CriSharp.Images.Registry;
using CriSharp.TestSupport;
using RegistryCredentials = CriSharp.Images.Registry.RegistryCredentials;

namespace CriSharp.Images.Tests;

/// <summary>An anonymous docker-registry with busybox and multiarch pushed, shared by a test class.</summary>
public sealed class AnonymousRegistry : IAsyncLifetime
{
    public RegistryFixture Registry { get; private set; } = null!;
    public BuiltImage Busybox { get; private set; } = null!;
    public BuiltImage MultiArch { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Registry = await RegistryFixture.Anonymous();
        Busybox = (await TestImages.PushAsync(Registry, TestImages.Busybox))[0];
        MultiArch = (await TestImages.PushAsync(Registry, TestImages.MultiArch))[0];
    }

    public Task DisposeAsync()
    {
        Registry?.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class RealRegistryTests(AnonymousRegistry fixture) : IClassFixture<AnonymousRegistry>
{
    private static readonly RegistryCredentials? Anonymous = null;

    private static async Task FetchAndVerifyAllBlobsAsync(TestClient client, ResolvedImage image)
    {
        foreach (var blob in image.Layers.Prepend(image.Config))
        {
            var bytes = await client.FetchAsync(image, blob);
            Assert.Equal(blob.Size, bytes.LongLength);
            Assert.Equal(blob.Digest, Digest.Of(bytes));
        }
    }

    private static void AssertIsBusybox(BuiltImage built, ResolvedImage image)
    {
        Assert.Equal(built.ManifestDigest, image.ManifestDigest.ToString());
        Assert.Equal(ManifestMediaTypes.OciManifest, image.ManifestMediaType);
        Assert.Equal(built.ManifestDigest, Digest.Of(image.ManifestBytes).ToString());
        Assert.Equal(built.ConfigDigest, image.Config.Digest.ToString());
        Assert.Equal(image.Config.Digest, Digest.Of(image.ConfigBytes));
        Assert.Equal(built.LayerDigests, image.Layers.Select(l => l.Digest.ToString()));
    }

    [Fact]
    public async Task Resolves_and_fetches_busybox_by_tag()
    {
        using var client = new TestClient();
        var reference = ImageReference.Parse(fixture.Busybox.Reference);
        var image = await client.Client.ResolveAsync(reference, Anonymous, default);
        AssertIsBusybox(fixture.Busybox, image);
        Assert.Null(image.IndexDigest);
        Assert.Equal(image.ManifestDigest, image.RepoDigest);
        Assert.Equal(reference, image.Reference);
        Assert.True(image.Endpoint.IsPlainHttp);
        await FetchAndVerifyAllBlobsAsync(client, image);
    }

    [Fact]
    public async Task Resolves_and_fetches_busybox_by_digest()
    {
        using var client = new TestClient();
        var reference = ImageReference.Parse(fixture.Busybox.DigestReference);
        Assert.Null(reference.Tag);
        var image = await client.Client.ResolveAsync(reference, Anonymous, default);
        AssertIsBusybox(fixture.Busybox, image);
        Assert.Contains(client.Requests, u => u.AbsolutePath.EndsWith("/manifests/" + fixture.Busybox.ManifestDigest, StringComparison.Ordinal));
        await FetchAndVerifyAllBlobsAsync(client, image);
    }

    [Fact]
    public async Task Tag_and_digest_pulls_by_digest()
    {
        using var client = new TestClient();
        var reference = ImageReference.Parse($"{fixture.Busybox.Host}/{fixture.Busybox.Repository}:no-such-tag@{fixture.Busybox.ManifestDigest}");
        var image = await client.Client.ResolveAsync(reference, Anonymous, default);
        Assert.Equal(fixture.Busybox.ManifestDigest, image.ManifestDigest.ToString());
        Assert.Equal("no-such-tag", image.Reference.Tag);
    }

    [Fact]
    public async Task Multiarch_index_resolves_to_the_amd64_manifest()
    {
        using var client = new TestClient();
        var image = await client.Client.ResolveAsync(ImageReference.Parse(fixture.MultiArch.Reference), Anonymous, default);
        var amd64 = fixture.MultiArch.Children.Single(c => c.Platform!.Architecture == "amd64");
        Assert.Equal(fixture.MultiArch.ManifestDigest, image.IndexDigest?.ToString());
        Assert.Equal(amd64.ManifestDigest, image.ManifestDigest.ToString());
        Assert.Equal(fixture.MultiArch.ManifestDigest, image.RepoDigest.ToString());
        Assert.Equal(amd64.LayerDigests, image.Layers.Select(l => l.Digest.ToString()));
        await FetchAndVerifyAllBlobsAsync(client, image);
    }

    [Fact]
    public async Task Resumes_a_partial_download_with_a_range_request()
    {
        using var client = new TestClient();
        var image = await client.Client.ResolveAsync(ImageReference.Parse(fixture.Busybox.Reference), Anonymous, default);
        var layer = image.Layers[0];
        var full = await client.FetchAsync(image, layer);
        var target = client.Target(layer);
        await File.WriteAllBytesAsync(target.Path, full[..(full.Length / 2)]);
        await client.Client.FetchBlobAsync(image, layer, target, default);
        Assert.Equal(full, await File.ReadAllBytesAsync(target.Path));
        // Already complete: nothing more is appended.
        await client.Client.FetchBlobAsync(image, layer, target, default);
        Assert.Equal(full.Length, new FileInfo(target.Path).Length);
    }

    [Fact]
    public async Task Unknown_tag_is_NotFound_naming_registry_repository_and_tag()
    {
        using var client = new TestClient();
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Client.ResolveAsync(ImageReference.Parse($"{fixture.Registry.Host}/crisharp-test/busybox:nope"), Anonymous, default));
        Assert.Equal(RegistryErrorKind.NotFound, e.Reason);
        Assert.Contains(fixture.Registry.Host, e.Message);
        Assert.Contains("crisharp-test/busybox", e.Message);
        Assert.Contains("nope", e.Message);
    }

    [Fact]
    public async Task Mirrors_only_pulls_from_the_mirror_and_never_contacts_the_upstream()
    {
        using var client = new TestClient(c => c.Registries.Hosts["registry.k8s.io"] = new()
        {
            Mirrors = [$"http://{fixture.Registry.Host}"],
            MirrorsOnly = true,
        });
        var image = await client.Client.ResolveAsync(ImageReference.Parse("registry.k8s.io/crisharp-test/busybox:latest"), Anonymous, default);
        AssertIsBusybox(fixture.Busybox, image);
        Assert.True(image.Endpoint.IsMirror);
        Assert.Equal("registry.k8s.io", image.Reference.Registry);
        await FetchAndVerifyAllBlobsAsync(client, image);
        Assert.NotEmpty(client.Requests);
        Assert.DoesNotContain(client.Requests, u => u.Host.Contains("k8s.io", StringComparison.OrdinalIgnoreCase));
        Assert.All(client.Requests, u => Assert.Equal(fixture.Registry.Host, u.Authority));
    }

    [Fact]
    public async Task Unreachable_mirror_falls_back_to_the_upstream()
    {
        var dead = RegistryFixture.FreePort();
        using var client = new TestClient(c => c.Registries.Hosts[fixture.Registry.Host] = new() { Mirrors = [$"http://127.0.0.1:{dead}"] });
        var image = await client.Client.ResolveAsync(ImageReference.Parse(fixture.Busybox.Reference), Anonymous, default);
        Assert.False(image.Endpoint.IsMirror);
        Assert.Contains(client.Requests, u => u.Port == dead);
        AssertIsBusybox(fixture.Busybox, image);
    }

    [Fact]
    public async Task Mirror_with_a_repository_prefix()
    {
        // The mirror serves "<prefix>/<repo>": here the prefix is "crisharp-test" and the upstream repo "busybox".
        using var client = new TestClient(c => c.Registries.Hosts["quay.io"] = new()
        {
            Mirrors = [$"http://{fixture.Registry.Host}/crisharp-test"],
            MirrorsOnly = true,
        });
        var image = await client.Client.ResolveAsync(ImageReference.Parse("quay.io/busybox"), Anonymous, default);
        AssertIsBusybox(fixture.Busybox, image);
        await FetchAndVerifyAllBlobsAsync(client, image);
        Assert.DoesNotContain(client.Requests, u => u.Host == "quay.io");
    }

    [Fact]
    public async Task Mirrors_only_with_all_mirrors_down_fails_without_contacting_the_upstream()
    {
        var dead = RegistryFixture.FreePort();
        using var client = new TestClient(c => c.Registries.Hosts["registry.k8s.io"] = new()
        {
            Mirrors = [$"http://127.0.0.1:{dead}"],
            MirrorsOnly = true,
        });
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Client.ResolveAsync(ImageReference.Parse("registry.k8s.io/pause:3.9"), Anonymous, default));
        Assert.Equal(RegistryErrorKind.Network, e.Reason);
        Assert.All(client.Requests, u => Assert.Equal(dead, u.Port));
    }
}
