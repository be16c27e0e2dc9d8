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

        var blobs = BlobsOf(resolved);
        using var pin = images.Pin(blobs.Concat(chainIds.Select(c => c.ToString())));

        content.Put(new Descriptor(resolved.ManifestMediaType, resolved.ManifestDigest, resolved.ManifestBytes.Length), resolved.ManifestBytes);
        content.Put(resolved.Config, resolved.ConfigBytes);
        var downloaded = await DownloadAndUnpackAsync(resolved, diffIds, chainIds, ct);

        // Unpacked files must be on disk before a record claims the image is complete.
        FileMetadata.Syncfs(layers.Dir);

        var record = images.Commit(NewRecord(reference, resolved, imageConfig, blobs, chainIds, annotations));
        ImageMetrics.PullBytes.Add(downloaded);
        ImageMetrics.PullDuration.Record(sw.Elapsed.TotalSeconds);
        log.Information("pulled {Reference} as {ImageId} (manifest {Digest}): {Layers} layers, {Bytes} bytes downloaded in {DurationMs:F0} ms",
            reference.ToString(), record.Id, resolved.ManifestDigest.ToString(), resolved.Layers.Count, downloaded, sw.Elapsed.TotalMilliseconds);
        return record;
    }

    /// <summary>The blobs an image holds: platform manifest, config, the index it came from (if any), layers.</summary>
    static List<string> BlobsOf(ResolvedImage resolved)
    {
        var blobs = new List<string> { resolved.ManifestDigest.ToString(), resolved.Config.Digest.ToString() };
        if (resolved.IndexDigest is { } index) blobs.Add(index.ToString());
        blobs.AddRange(resolved.Layers.Select(l => l.Digest.ToString()));
        return blobs;
    }

    /// <summary>
    /// Downloads only the blobs of layers not unpacked yet, in parallel, and unpacks strictly in order as each
    /// arrives. Returns the bytes downloaded (blobs already in the content store are not counted).
    /// </summary>
    async Task<long> DownloadAndUnpackAsync(ResolvedImage resolved, IReadOnlyList<Digest> diffIds, IReadOnlyList<Digest> chainIds, CancellationToken ct)
    {
        var downloads = new Task<(string Path, long Downloaded)>?[resolved.Layers.Count];
        using var slots = new SemaphoreSlim((int)config.Current.Images.MaxParallelDownloads);
        for (var i = 0; i < resolved.Layers.Count; i++)
            if (!layers.Has(chainIds[i])) downloads[i] = DownloadAsync(resolved, resolved.Layers[i], slots, ct);
        try
        {
            long downloaded = 0;
            for (var i = 0; i < resolved.Layers.Count; i++)
            {
                if (downloads[i] is not { } download) continue;
                var (blobPath, bytes) = await download;
                downloaded += bytes;
                await layers.EnsureAsync(chainIds[i], diffIds[i], blobPath, resolved.Layers[i].MediaType, ct);
            }
            return downloaded;
        }
        finally
        {
            // Let every started download settle before the pin goes, whatever failed first.
            await Task.WhenAll(downloads.Where(d => d != null).Select(d => d!.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
    }

    /// <summary>Fetches one layer blob once a download slot is free: its path, and its size if it was not stored before.</summary>
    Task<(string Path, long Downloaded)> DownloadAsync(ResolvedImage resolved, Descriptor layer, SemaphoreSlim slots, CancellationToken ct) =>
        Task.Run(async () =>
        {
            await slots.WaitAsync(ct);
            try
            {
                var fresh = !content.Has(layer.Digest);
                var path = await content.EnsureAsync(layer, (target, token) => registry.FetchBlobAsync(resolved, layer, target, token), ct);
                return (path, fresh ? layer.Size : 0L);
            }
            finally
            {
                slots.Release();
            }
        }, ct);

    /// <summary>The record of a freshly pulled image, as <see cref="ImageStore.Commit"/> takes it.</summary>
    static ImageRecord NewRecord(ImageReference reference, ResolvedImage resolved, ImageConfig imageConfig, List<string> blobs,
        IReadOnlyList<Digest> chainIds, IReadOnlyDictionary<string, string> annotations)
    {
        return new ImageRecord
        {
            Id = resolved.Config.Digest.ToString(),
            // "name:tag@digest" fetches by digest; the tag is not verified, so it is not recorded (as containerd does).
            RepoTags = reference is { Tag: { } tag, Digest: null } ? [$"{reference.Name}:{tag}"] : [],
            RepoDigests = [$"{reference.Name}@{resolved.RepoDigest}"],
            Size = resolved.Config.Size + resolved.Layers.Sum(l => l.Size),
            User = imageConfig.Config?.User ?? "",
            ManifestDigest = resolved.ManifestDigest.ToString(),
            ManifestMediaType = resolved.ManifestMediaType,
            Blobs = blobs,
            ChainIds = [.. chainIds.Select(c => c.ToString())],
            Annotations = new(annotations),
            Pinned = false,
            PulledAt = DateTime.UtcNow,
        };
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
