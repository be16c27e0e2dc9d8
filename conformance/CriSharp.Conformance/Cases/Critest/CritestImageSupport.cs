using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text.Json;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// Image calls made the way critest's image specs make them (ImageStatus without verbose, ListImages with an
/// empty filter, pulls with a pod config that has only labels, "remove" = ImageStatus by name, then RemoveImage
/// by the id it reports), and the bookkeeping that keeps the image cases from disturbing other cases: every pull
/// is undone after the case, and an image present before the case that the case removes (critest clears its
/// images first; the test registry's pause:3.9 is the same image as the reference runtime's sandbox image) is
/// pulled again afterwards under every name it had.
/// </summary>
public static class CritestImageSupport
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(20) };

    private static readonly string[] ManifestTypes =
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ];

    /// <summary>critest's pod config for pulls: labels only (none on Linux).</summary>
    public static PodSandboxConfig PullPodConfig() => new();

    /// <summary>ImageStatus (not verbose); null when the runtime does not know <paramref name="image"/>.</summary>
    public static async Task<Image?> StatusAsync(this CaseContext ctx, string image) =>
        (await ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, ctx.Options)).Image;

    /// <summary>ListImages with an empty filter, as critest sends it.</summary>
    public static async Task<IReadOnlyList<Image>> ListAsync(this CaseContext ctx) =>
        (await ctx.Images.ListImagesAsync(new ListImagesRequest { Filter = new ImageFilter() }, ctx.Options)).Images;

    /// <summary>
    /// PullImage with critest's pull pod config; returns image_ref (required non-empty). After the case the image is
    /// removed by that id if it is still there.
    /// </summary>
    public static async Task<string> CritestPullAsync(this CaseContext ctx, string image)
    {
        var r = await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image }, SandboxConfig = PullPodConfig() }, ctx.Options);
        Check.NotEmpty(r.ImageRef, $"PullImage({image}).image_ref");
        var id = r.ImageRef;
        ctx.Defer($"remove image {image}", ct => RemoveIfPresentAsync(ctx, id, ct));
        return id;
    }

    /// <summary>critest's removeImage: ImageStatus by name and, if the runtime knows it, RemoveImage by the reported id.</summary>
    public static async Task RemoveByStatusAsync(this CaseContext ctx, string image)
    {
        if (await ctx.StatusAsync(image) is { } found)
        {
            await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = found.Id } }, ctx.Options);
        }
    }

    /// <summary>
    /// critest's "make sure the image does not exist before testing", for images the case did not pull: an image
    /// the runtime knows under <paramref name="image"/> is removed by id and, after the case, pulled again under all
    /// its names (see <see cref="RestoreAfterCaseAsync"/>).
    /// </summary>
    public static async Task EnsureAbsentAsync(this CaseContext ctx, string image)
    {
        if (await ctx.StatusAsync(image) is { } found)
        {
            await ctx.RestoreAfterCaseAsync(found.Id);
            await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = found.Id } }, ctx.Options);
        }
    }

    /// <summary>
    /// If the runtime holds an image with <paramref name="imageId"/> now, pulls each of its tags (or, without tags,
    /// its digests) again after the case when the case left that name missing. Registered before the case's own
    /// pulls, so it runs after their removals.
    /// </summary>
    public static async Task RestoreAfterCaseAsync(this CaseContext ctx, string imageId)
    {
        if (await ctx.StatusAsync(imageId) is not { } present) return;
        var names = present.RepoTags.Count > 0 ? present.RepoTags.ToList() : present.RepoDigests.ToList();
        ctx.Defer($"restore image {imageId} as {string.Join(", ", names)}", async ct =>
        {
            foreach (var name in names)
            {
                var status = await ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = name } }, cancellationToken: ct);
                if (status.Image is null)
                {
                    await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = name } }, cancellationToken: ct);
                }
            }
        });
    }

    /// <summary>Removes <paramref name="image"/> by the id ImageStatus reports, if the runtime knows it (cleanups).</summary>
    public static async Task RemoveIfPresentAsync(CaseContext ctx, string image, CancellationToken ct)
    {
        var status = await ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        if (status.Image is { } found)
        {
            try
            {
                await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = found.Id } }, cancellationToken: ct);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                // removed meanwhile
            }
        }
    }

    /// <summary>Fails the case unless ImageStatus(<paramref name="image"/>) reports no image.</summary>
    public static async Task ExpectGoneAsync(this CaseContext ctx, string image, string what)
    {
        if (await ctx.StatusAsync(image) is { } still)
        {
            throw Check.Fail($"{what}: ImageStatus({image}) still reports image {still.Id} with tags {Pods.Show(still.RepoTags)}");
        }
    }

    /// <summary>The images of ListImages whose repo_tags contain <paramref name="tag"/>.</summary>
    public static Image? FindByTag(IEnumerable<Image> images, string tag) => images.FirstOrDefault(i => i.RepoTags.Contains(tag));

    /// <summary>
    /// The same registry path under the test registry's other loopback name (127.0.0.1:PORT ⇄ localhost:PORT): the
    /// stand-in for critest's registry.k8s.io/pause:3.9 and k8s.gcr.io/pause:3.9, one image from two registries.
    /// </summary>
    public static string OtherRegistryPath(this CaseContext ctx, string pathAndTag)
    {
        var host = ctx.Registry.Host;
        var colon = host.LastIndexOf(':');
        var (name, port) = colon < 0 ? (host, "") : (host[..colon], host[colon..]);
        var other = name switch
        {
            "127.0.0.1" => "localhost",
            "localhost" => "127.0.0.1",
            _ => throw Check.Fail($"the test registry {host} has no second loopback name: pass --test-registry 127.0.0.1:PORT"),
        };
        return $"{other}{port}/{pathAndTag}";
    }

    /// <summary>
    /// The image id (config digest) the test registry serves under <paramref name="pathAndTag"/> for this node's
    /// platform, read from the registry itself.
    /// </summary>
    public static async Task<string> RegistryImageIdAsync(this CaseContext ctx, string pathAndTag)
    {
        var colon = pathAndTag.LastIndexOf(':');
        var (path, tag) = (pathAndTag[..colon], pathAndTag[(colon + 1)..]);
        var manifest = await ManifestJsonAsync(ctx, path, tag);
        if (manifest.TryGetProperty("manifests", out var entries))
        {
            var arch = RuntimeInformation.OSArchitecture switch { Architecture.X64 => "amd64", Architecture.Arm64 => "arm64", var a => a.ToString().ToLowerInvariant() };
            var entry = entries.EnumerateArray().FirstOrDefault(e =>
                e.TryGetProperty("platform", out var p) && p.GetProperty("os").GetString() == "linux" && p.GetProperty("architecture").GetString() == arch);
            if (entry.ValueKind != JsonValueKind.Object) throw Check.Fail($"test registry: {pathAndTag} has no linux/{arch} manifest");
            manifest = await ManifestJsonAsync(ctx, path, entry.GetProperty("digest").GetString()!);
        }

        return manifest.TryGetProperty("config", out var config)
            ? config.GetProperty("digest").GetString()!
            : throw Check.Fail($"test registry: the manifest of {pathAndTag} has no config");
    }

    private static async Task<JsonElement> ManifestJsonAsync(CaseContext ctx, string path, string reference)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{ctx.Registry.Host}/v2/{path}/manifests/{reference}");
        foreach (var t in ManifestTypes) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(t));
        using var response = await Http.SendAsync(request, ctx.CancellationToken);
        if (!response.IsSuccessStatusCode) throw Check.Fail($"test registry: GET manifest {path}:{reference} answered {(int)response.StatusCode}");
        return JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(ctx.CancellationToken)).RootElement.Clone();
    }
}
