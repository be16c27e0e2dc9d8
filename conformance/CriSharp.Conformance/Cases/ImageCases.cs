using System.Runtime.InteropServices;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// ImageService: pull, status, list, remove, identity (tags and digests of one image), platform
/// selection and image filesystem usage. Cases that pull use the test registry (<c>--test-registry</c>)
/// and remove what they pulled.
/// </summary>
[CaseArea("Image")]
public sealed class ImageCases
{
    // Never pulled by any case: a well-formed reference and a well-formed id that no runtime holds.
    private const string AbsentReference = "127.0.0.1:1/crisharp-conformance/absent-image:never-pulled";
    private static readonly string AbsentId = "sha256:" + new string('0', 58) + "c0ffee";

    [Case("ListImages succeeds and every image has an id")]
    public async Task ListImagesIds(CaseContext ctx)
    {
        var r = await ctx.Images.ListImagesAsync(new ListImagesRequest(), ctx.Options);
        foreach (var image in r.Images)
        {
            Check.NotEmpty(image.Id, $"id of image {string.Join(",", image.RepoTags)}");
        }
    }

    [Case("ImageStatus of an absent image returns no image and no error")]
    public async Task ImageStatusAbsent(CaseContext ctx)
    {
        foreach (var name in new[] { AbsentReference, AbsentId })
        {
            var r = await StatusAsync(ctx, name);
            Check.True(r.Image is null, $"ImageStatus({name}) returned an image ({r.Image?.Id}) for an image that was never pulled");
        }
    }

    [Case("RemoveImage of an absent image succeeds")]
    public async Task RemoveAbsent(CaseContext ctx)
    {
        foreach (var name in new[] { AbsentReference, AbsentId })
        {
            await RemoveAsync(ctx, name);
        }
    }

    [Case("PullImage returns the id reported by ImageStatus and ListImages")]
    public async Task PullReturnsId(CaseContext ctx)
    {
        var image = ctx.Registry.Image("busybox:latest");
        var id = await PullAsync(ctx, image);

        var status = Check.NotNull((await StatusAsync(ctx, image)).Image, $"ImageStatus({image}).image after pull");
        Check.Equal(id, status.Id, "ImageStatus id vs PullImage image_ref");
        Check.True(status.RepoTags.Contains(image), $"repo_tags [{string.Join(", ", status.RepoTags)}] lack {image}");
        Check.True(status.Size > 0, "image size is 0");

        var listed = (await ListAsync(ctx)).Where(i => i.Id == id).ToList();
        Check.Equal(1, listed.Count, $"ListImages entries with id {id}");
        Check.True(listed[0].RepoTags.Contains(image), $"ListImages repo_tags [{string.Join(", ", listed[0].RepoTags)}] lack {image}");
    }

    [Case("Pulling by tag then by digest yields one image with the tag and the digest")]
    public async Task TagThenDigest(CaseContext ctx)
    {
        var registry = ctx.Registry;
        var tagged = registry.Image("busybox:latest");
        var manifest = await registry.ManifestAsync("busybox", "latest", ctx.CancellationToken);
        var digested = $"{registry.Repository("busybox")}@{manifest.Digest}";

        var byTag = await PullAsync(ctx, tagged);
        var byDigest = await PullAsync(ctx, digested);
        Check.Equal(byTag, byDigest, $"image_ref of {digested} vs {tagged}");
        Check.Equal(TestRegistry.ConfigDigest(manifest), byTag, "image id vs the manifest's config digest");

        foreach (var name in new[] { tagged, digested, byTag })
        {
            var image = Check.NotNull((await StatusAsync(ctx, name)).Image, $"ImageStatus({name}).image");
            Check.Equal(byTag, image.Id, $"ImageStatus({name}) id");
            Check.True(image.RepoTags.Contains(tagged), $"ImageStatus({name}) repo_tags [{string.Join(", ", image.RepoTags)}] lack {tagged}");
            Check.True(image.RepoDigests.Contains(digested), $"ImageStatus({name}) repo_digests [{string.Join(", ", image.RepoDigests)}] lack {digested}");
        }

        Check.Equal(1, (await ListAsync(ctx)).Count(i => i.Id == byTag), $"ListImages entries with id {byTag}");
    }

    [Case("Two tags of one manifest are one image, and removing it by id removes both tags")]
    public async Task TwoTagsOneImage(CaseContext ctx)
    {
        var v1 = ctx.Registry.Image("twotags:v1");
        var v2 = ctx.Registry.Image("twotags:v2");
        var id1 = await PullAsync(ctx, v1);
        var id2 = await PullAsync(ctx, v2);
        Check.Equal(id1, id2, $"image_ref of {v2} vs {v1}");

        var image = Check.NotNull((await StatusAsync(ctx, id1)).Image, $"ImageStatus({id1}).image");
        Check.True(image.RepoTags.Contains(v1) && image.RepoTags.Contains(v2), $"repo_tags [{string.Join(", ", image.RepoTags)}] should hold {v1} and {v2}");
        var listed = (await ListAsync(ctx)).Where(i => i.Id == id1).ToList();
        Check.Equal(1, listed.Count, $"ListImages entries with id {id1}");
        Check.Equal(0, (await ListAsync(ctx)).Count(i => i.Id != id1 && (i.RepoTags.Contains(v1) || i.RepoTags.Contains(v2))), "other images carrying the tags");

        await RemoveAsync(ctx, id1);
        foreach (var name in new[] { v1, v2, id1 })
        {
            Check.True((await StatusAsync(ctx, name)).Image is null, $"ImageStatus({name}) still returns an image after RemoveImage({id1})");
        }
    }

    [Case("RemoveImage removes the image from ImageStatus and ListImages")]
    public async Task RemoveRemoves(CaseContext ctx)
    {
        var image = ctx.Registry.Image("busybox:latest");
        var id = await PullAsync(ctx, image);
        await RemoveAsync(ctx, image);

        Check.True((await StatusAsync(ctx, image)).Image is null, $"ImageStatus({image}) still returns an image after RemoveImage");
        Check.True((await StatusAsync(ctx, id)).Image is null, $"ImageStatus({id}) still returns an image after RemoveImage");
        var left = (await ListAsync(ctx)).Where(i => i.Id == id || i.RepoTags.Contains(image)).ToList();
        Check.True(left.Count == 0, $"ListImages still lists {id} after RemoveImage");
    }

    [Case("RemoveImage is idempotent")]
    public async Task RemoveTwice(CaseContext ctx)
    {
        var image = ctx.Registry.Image("busybox:latest");
        var id = await PullAsync(ctx, image);
        await RemoveAsync(ctx, id);
        await RemoveAsync(ctx, id);
        await RemoveAsync(ctx, image);
        Check.True((await StatusAsync(ctx, id)).Image is null, $"ImageStatus({id}) returns an image after RemoveImage");
    }

    [Case("ListImages with an image filter includes that image")]
    public async Task ListFilterIncludes(CaseContext ctx)
    {
        foreach (var (filter, want) in await FilterFixtureAsync(ctx))
        {
            var ids = await ListFilteredAsync(ctx, filter);
            Check.True(ids.Contains(want), $"ListImages(filter {filter}) returned [{string.Join(", ", ids)}], which lacks {want}");
        }
    }

    // containerd (1.6 and 2.x) ignores ImageFilter and returns every image: see reference-known-failures.txt.
    [Case("ListImages with an image filter returns only that image")]
    public async Task ListFilterOnly(CaseContext ctx)
    {
        foreach (var (filter, want) in await FilterFixtureAsync(ctx))
        {
            var ids = await ListFilteredAsync(ctx, filter);
            Check.True(ids.Count == 1 && ids[0] == want, $"ListImages(filter {filter}) returned [{string.Join(", ", ids)}], want only {want}");
        }
    }

    /// <summary>Pulls busybox and nonroot; returns (filter, expected id) pairs by tag and by id.</summary>
    private static async Task<(string Filter, string Id)[]> FilterFixtureAsync(CaseContext ctx)
    {
        var busybox = ctx.Registry.Image("busybox:latest");
        var nonroot = ctx.Registry.Image("nonroot:latest");
        var busyboxId = await PullAsync(ctx, busybox);
        var nonrootId = await PullAsync(ctx, nonroot);
        Check.True(busyboxId != nonrootId, "busybox and nonroot have the same id");
        return [(busybox, busyboxId), (nonroot, nonrootId), (nonrootId, nonrootId)];
    }

    private static async Task<List<string>> ListFilteredAsync(CaseContext ctx, string filter)
    {
        var r = await ctx.Images.ListImagesAsync(
            new ListImagesRequest { Filter = new ImageFilter { Image = new ImageSpec { Image = filter } } }, ctx.Options);
        return [.. r.Images.Select(i => i.Id)];
    }

    // What a failed pull returns is not specified (containerd answers UNKNOWN, crisharp NOT_FOUND): only
    // that it fails and leaves nothing behind.
    [Case("PullImage of an unknown repository or tag fails and lists nothing")]
    public async Task PullUnknown(CaseContext ctx)
    {
        foreach (var image in new[] { ctx.Registry.Image("no-such-repository:latest"), ctx.Registry.Image("busybox:no-such-tag") })
        {
            await PullFailsAsync(ctx, image);
        }
    }

    // Invalid under the distribution reference grammar: upper case in the repository path (must not be
    // lower-cased into the existing busybox), a bad tag, a short digest. A bare "UPPER/case" is *valid*
    // there (an upper-case first component is a registry host), so it is not used.
    [Case("PullImage rejects an invalid reference")]
    public async Task PullInvalid(CaseContext ctx)
    {
        var repository = ctx.Registry.Repository("busybox");
        foreach (var image in new[] { ctx.Registry.Repository("BusyBox") + ":latest", repository + ":bad~tag", repository + "@sha256:1234" })
        {
            await PullFailsAsync(ctx, image);
        }
    }

    [Case("Pulling a multi-arch index yields the image for the host platform")]
    public async Task MultiArch(CaseContext ctx)
    {
        var registry = ctx.Registry;
        var arch = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            var a => throw Check.Fail($"host architecture {a} is not in the multiarch test image (amd64, arm64)"),
        };
        var index = await registry.ManifestAsync("multiarch", "latest", ctx.CancellationToken);
        Check.True(index.Json.TryGetProperty("manifests", out var manifests), $"multiarch:latest is not an index ({index.MediaType})");
        var child = manifests.EnumerateArray().FirstOrDefault(m =>
            m.TryGetProperty("platform", out var p) && p.GetProperty("os").GetString() == "linux" && p.GetProperty("architecture").GetString() == arch);
        Check.True(child.ValueKind == System.Text.Json.JsonValueKind.Object, $"multiarch:latest has no linux/{arch} entry");
        var childManifest = await registry.ManifestAsync("multiarch", child.GetProperty("digest").GetString()!, ctx.CancellationToken);
        var expected = TestRegistry.ConfigDigest(childManifest);

        var image = registry.Image("multiarch:latest");
        var id = await PullAsync(ctx, image);
        Check.Equal(expected, id, $"image_ref of {image} vs the config digest of its linux/{arch} manifest");
        var status = Check.NotNull((await StatusAsync(ctx, image)).Image, $"ImageStatus({image}).image");
        Check.Equal(expected, status.Id, "ImageStatus id");

        // The digest the tag resolved to (the index) names the image, as kubelet's image references expect.
        var byIndex = $"{registry.Repository("multiarch")}@{index.Digest}";
        Check.True(status.RepoDigests.Contains(byIndex), $"repo_digests [{string.Join(", ", status.RepoDigests)}] lack the index digest {byIndex}");
        Check.Equal(expected, (await StatusAsync(ctx, byIndex)).Image?.Id, $"ImageStatus({byIndex}) id");
    }

    [Case("ImageStatus reports a named image user as username")]
    public async Task NamedUser(CaseContext ctx)
    {
        var image = ctx.Registry.Image("nonroot:latest");
        await PullAsync(ctx, image);
        var status = Check.NotNull((await StatusAsync(ctx, image)).Image, $"ImageStatus({image}).image");
        Check.Equal("app", status.Username, "username (config User \"app\")");
        Check.True(status.Uid is null, $"uid is set ({status.Uid?.Value}) for a non-numeric user");
    }

    // Runtimes may sample usage periodically (containerd every 10 s), so usage is polled.
    [Case("ImageFsInfo reports an image filesystem with mountpoint, usage and timestamp")]
    public async Task ImageFsInfo(CaseContext ctx)
    {
        await PullAsync(ctx, ctx.Registry.Image("busybox:latest"));
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(22);
        while (true)
        {
            var r = await ctx.Images.ImageFsInfoAsync(new ImageFsInfoRequest(), ctx.Options);
            Check.True(r.ImageFilesystems.Count >= 1, "no image_filesystems");
            foreach (var fs in r.ImageFilesystems)
            {
                Check.NotEmpty(fs.FsId?.Mountpoint, "image filesystem fs_id.mountpoint");
                Check.True(fs.Timestamp > 0, $"image filesystem {fs.FsId!.Mountpoint}: timestamp {fs.Timestamp}");
                Check.NotNull(fs.UsedBytes, $"image filesystem {fs.FsId.Mountpoint}: used_bytes");
            }

            if (r.ImageFilesystems.Any(fs => fs.UsedBytes.Value > 0))
            {
                return;
            }

            if (DateTime.UtcNow > until)
            {
                throw Check.Fail("image filesystem used_bytes still 0 22 s after pulling an image");
            }

            await Task.Delay(500, ctx.CancellationToken);
        }
    }

    /// <summary>Pulls, after registering a cleanup that removes whatever the reference names afterwards.</summary>
    private static async Task<string> PullAsync(CaseContext ctx, string image)
    {
        DeferRemove(ctx, image);
        var r = await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, ctx.Options);
        Check.NotEmpty(r.ImageRef, $"PullImage({image}).image_ref");
        DeferRemove(ctx, r.ImageRef);
        return r.ImageRef;
    }

    private static async Task PullFailsAsync(CaseContext ctx, string image)
    {
        DeferRemove(ctx, image);
        try
        {
            var r = await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, ctx.Options);
            throw Check.Fail($"PullImage({image}) succeeded with image_ref {r.ImageRef}");
        }
        catch (RpcException e) when (e.StatusCode is not (StatusCode.DeadlineExceeded or StatusCode.Cancelled))
        {
        }

        var listed = (await ListAsync(ctx)).Where(i => i.RepoTags.Contains(image) || i.RepoDigests.Contains(image)).ToList();
        Check.True(listed.Count == 0, $"ListImages lists {image} after a failed pull");
    }

    /// <summary>After the case: if the name still resolves, remove that image by id (does not rely on idempotent RemoveImage).</summary>
    private static void DeferRemove(CaseContext ctx, string image) => ctx.Defer($"remove image {image}", async ct =>
    {
        ImageStatusResponse status;
        try
        {
            status = await ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.Unknown or StatusCode.NotFound)
        {
            return; // a reference the runtime cannot even parse names no image
        }

        if (status.Image is { } found)
        {
            await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = found.Id } }, cancellationToken: ct);
        }
    });

    private static Task<ImageStatusResponse> StatusAsync(CaseContext ctx, string image) =>
        ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, ctx.Options).ResponseAsync;

    private static async Task RemoveAsync(CaseContext ctx, string image) =>
        await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = image } }, ctx.Options);

    private static async Task<IReadOnlyList<Image>> ListAsync(CaseContext ctx) =>
        (await ctx.Images.ListImagesAsync(new ListImagesRequest(), ctx.Options)).Images;
}
