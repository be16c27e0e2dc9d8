using System.Diagnostics;
using CriSharp.Configuration;
using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.References;
using CriSharp.Images.Registry;
using CriSharp.Linux;
using Serilog;

namespace CriSharp.Images;

/// <summary>
/// Pulls an image: resolve the manifest, store manifest and config, download layer blobs in parallel,
/// unpack them bottom-up by chain id (checking diff ids), flush, and only then write the image record.
/// </summary>
public sealed class ImagePuller(LiveConfig config, RegistryClient registry, ContentStore content, LayerStore layers, ImageStore images, ILogger log)
{
    public string DefaultRegistry => config.Current.Registries.Search.FirstOrDefault() ?? ImageReference.DockerHub;

    public async Task<ImageRecord> PullAsync(string image, RegistryCredentials? credentials, IReadOnlyDictionary<string, string> annotations, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var reference = ImageReference.Parse(image, DefaultRegistry);
        var resolved = await registry.ResolveAsync(reference, credentials, ct);
        var imageConfig = ParseConfig(resolved);
        var diffIds = imageConfig.DiffIds();
        if (diffIds.Count != resolved.Layers.Count)
            throw new FormatException($"{reference}: the manifest lists {resolved.Layers.Count} layers but the config has {diffIds.Count} diff_ids");
        var chainIds = LayerStore.ChainIds(diffIds);

        var blobs = new List<string> { resolved.ManifestDigest.ToString(), resolved.Config.Digest.ToString() };
        if (resolved.IndexDigest is { } index) blobs.Add(index.ToString());
        blobs.AddRange(resolved.Layers.Select(l => l.Digest.ToString()));
        using var pin = images.Pin(blobs.Concat(chainIds.Select(c => c.ToString())));

        content.Put(new Descriptor(resolved.ManifestMediaType, resolved.ManifestDigest, resolved.ManifestBytes.Length), resolved.ManifestBytes);
        content.Put(resolved.Config, resolved.ConfigBytes);

        // Download only the blobs of layers not unpacked yet; unpack strictly in order as each arrives.
        var downloads = new Task<string>?[resolved.Layers.Count];
        using var slots = new SemaphoreSlim((int)config.Current.Images.MaxParallelDownloads);
        long downloaded = 0;
        for (var i = 0; i < resolved.Layers.Count; i++)
        {
            if (layers.Has(chainIds[i])) continue;
            var layer = resolved.Layers[i];
            downloads[i] = Task.Run(async () =>
            {
                await slots.WaitAsync(ct);
                try
                {
                    var fresh = !content.Has(layer.Digest);
                    var path = await content.EnsureAsync(layer, (target, token) => registry.FetchBlobAsync(resolved, layer, target, token), ct);
                    if (fresh) Interlocked.Add(ref downloaded, layer.Size);
                    return path;
                }
                finally
                {
                    slots.Release();
                }
            }, ct);
        }
        try
        {
            for (var i = 0; i < resolved.Layers.Count; i++)
            {
                if (downloads[i] is not { } download) continue;
                var blobPath = await download;
                await layers.EnsureAsync(chainIds[i], diffIds[i], blobPath, resolved.Layers[i].MediaType, ct);
            }
        }
        finally
        {
            // Let every started download settle before the pin goes, whatever failed first.
            await Task.WhenAll(downloads.Where(d => d != null).Select(d => d!.ContinueWith(_ => { }, TaskScheduler.Default)));
        }

        // Unpacked files must be on disk before a record claims the image is complete.
        FileMetadata.Syncfs(layers.Dir);

        var repoDigest = $"{reference.Name}@{resolved.IndexDigest ?? resolved.ManifestDigest}";
        var record = images.Commit(new ImageRecord
        {
            Id = resolved.Config.Digest.ToString(),
            // "name:tag@digest" fetches by digest; the tag is not verified, so it is not recorded (as containerd does).
            RepoTags = reference is { Tag: { } tag, Digest: null } ? [$"{reference.Name}:{tag}"] : [],
            RepoDigests = [repoDigest],
            Size = resolved.Config.Size + resolved.Layers.Sum(l => l.Size),
            User = imageConfig.Config?.User ?? "",
            ManifestDigest = resolved.ManifestDigest.ToString(),
            ManifestMediaType = resolved.ManifestMediaType,
            Blobs = blobs,
            ChainIds = [.. chainIds.Select(c => c.ToString())],
            Annotations = new(annotations),
            Pinned = false,
            PulledAt = DateTime.UtcNow,
        });
        ImageMetrics.PullBytes.Add(downloaded);
        ImageMetrics.PullDuration.Record(sw.Elapsed.TotalSeconds);
        log.Information("pulled {Reference} as {ImageId} (manifest {Digest}): {Layers} layers, {Bytes} bytes downloaded in {DurationMs:F0} ms",
            reference.ToString(), record.Id, resolved.ManifestDigest.ToString(), resolved.Layers.Count, downloaded, sw.Elapsed.TotalMilliseconds);
        return record;
    }

    static ImageConfig ParseConfig(ResolvedImage resolved)
    {
        var c = ImageConfig.Parse(resolved.ConfigBytes);
        if (c.Os is { } os && os != "linux")
            throw new FormatException($"{resolved.Reference}: image is for OS '{os}', not linux");
        return c;
    }

    /// <summary>The image's config, read from the content store (for container creation).</summary>
    public ImageConfig ReadConfig(ImageRecord image) => ImageConfig.Parse(ReadConfigBytes(image));

    /// <summary>The raw config blob of an image.</summary>
    public byte[] ReadConfigBytes(ImageRecord image) => File.ReadAllBytes(content.BlobPath(Digest.Parse(image.Id)));

    /// <summary>The stored manifest bytes of an image.</summary>
    public byte[] ReadManifest(ImageRecord image) => File.ReadAllBytes(content.BlobPath(Digest.Parse(image.ManifestDigest)));
}
