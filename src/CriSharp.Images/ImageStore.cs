using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.References;
using CriSharp.State;
using Serilog;

namespace CriSharp.Images;

/// <summary>
/// Image records (a <see cref="RecordIndex{T}"/>: durable, one file each, indexed in memory from start),
/// plus lookup by id, tag or digest reference, and garbage collection of blobs and layers no record references.
/// </summary>
public sealed class ImageStore
{
    // Keyed by the id's hex (the record's file name); ImageRecord.Id is "sha256:" + that.
    readonly RecordIndex<ImageRecord> _records;
    readonly ContentStore _content;
    readonly LayerStore _layers;
    readonly ILogger _log;
    // Taken by every member: a commit (which may move a tag from one record to another) is atomic to readers,
    // and garbage collection never races pins, commits or removals. The index's own locks cover one record.
    readonly object _sync = new();
    // Blobs and layers a pull in progress is using: GC must not take them before the record is written.
    readonly Dictionary<string, int> _pins = new(StringComparer.Ordinal);

    readonly IImageUsers _users;

    public ImageStore(string root, ContentStore content, LayerStore layers, ILogger log, IImageUsers? users = null)
    {
        _users = users ?? NoImageUsers.Instance;
        _records = new RecordIndex<ImageRecord>(StateLayout.Images(root), ImagesJsonContext.Default.ImageRecord, r => r.Hex, Quarantine.Under(root));
        _content = content;
        _layers = layers;
        _log = log;
    }

    /// <summary>A container that mounts the image (by id) as an image volume, or null.</summary>
    public string? VolumeUserOf(string imageId) => _users.VolumeUserOf(imageId);

    /// <summary>Loads records, dropping any whose config blob or layers are missing (never list a broken image).</summary>
    public void Recover()
    {
        var leftovers = _layers.RemoveLeftovers();
        if (leftovers > 0) _log.Warning("removed {Count} incomplete layer directories left by a crash", leftovers);
        // The index holds a broken record only until it is dropped here; the lock keeps it from every reader.
        lock (_sync)
            foreach (var r in _records.Load((f, reason, q) => _log.Error("unreadable image record {File} ({Reason}) moved to {Quarantine}", f, reason, q?.File ?? "nowhere")))
            {
                var missing = r.ChainIds.FirstOrDefault(c => !_layers.Has(Digest.Parse(c)))
                    ?? (_content.Has(Digest.Parse(r.Id)) ? null : r.Id);
                if (missing == null) continue;
                _log.Warning("dropping image {Image} ({Tags}): {Missing} is missing", r.Id, r.RepoTags, missing);
                _records.Remove(r.Hex);
            }
        var partials = _content.PrunePartials(TimeSpan.FromDays(1));
        _log.Information("image store: {Count} images, {Partials} stale partial downloads removed, {Resumable} kept for resuming",
            List().Count, partials, _content.PartialDownloads().Count);
    }

    public IReadOnlyList<ImageRecord> List()
    {
        lock (_sync) return _records.All();
    }

    /// <summary>
    /// Finds an image by full id ("sha256:…" or bare hex), unique id prefix (≥ 6 hex chars), or by
    /// reference (tag or digest, normalised against <paramref name="defaultRegistry"/>).
    /// </summary>
    public ImageRecord? Find(string image, string defaultRegistry)
    {
        lock (_sync)
        {
            var hex = image.StartsWith("sha256:", StringComparison.Ordinal) ? image[7..] : image;
            if (hex.Length >= 6 && hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
            {
                if (_records.Find(hex) is { } byId) return byId;
                if (image.StartsWith("sha256:", StringComparison.Ordinal)) return null;
            }
            if (!ImageReference.TryParse(image, defaultRegistry, out var reference)) return null;
            if (reference!.Digest is { } d)
            {
                var byDigest = $"{reference.Name}@{d}";
                return _records.All().FirstOrDefault(r => r.RepoDigests.Contains(byDigest));
            }
            var tag = reference.ToString();
            return _records.All().FirstOrDefault(r => r.RepoTags.Contains(tag));
        }
    }

    /// <summary>The image whose id is exactly <paramref name="id"/> ("sha256:…"), or null.</summary>
    public ImageRecord? Get(string id)
    {
        lock (_sync) return ById(id);
    }

    ImageRecord? ById(string id) =>
        id.Length > "sha256:".Length && _records.Get(id["sha256:".Length..]) is { } r && r.Id == id ? r : null;

    /// <summary>
    /// Stores a freshly pulled image: merges tags and digests into an existing record of the same id,
    /// and moves a tag away from any other image that held it (a tag names one image).
    /// </summary>
    public ImageRecord Commit(ImageRecord pulled)
    {
        lock (_sync)
        {
            var merged = pulled;
            if (ById(pulled.Id) is { } existing)
            {
                merged = existing with
                {
                    RepoTags = [.. existing.RepoTags.Union(pulled.RepoTags)],
                    RepoDigests = [.. existing.RepoDigests.Union(pulled.RepoDigests)],
                    Pinned = existing.Pinned || pulled.Pinned,
                    PulledAt = pulled.PulledAt,
                };
            }
            foreach (var other in _records.All().Where(o => o.Id != pulled.Id && o.RepoTags.Intersect(pulled.RepoTags).Any()))
                _records.Put(other with { RepoTags = [.. other.RepoTags.Except(pulled.RepoTags)] });
            _records.Put(merged);
            return merged;
        }
    }

    /// <summary>Removes the record (all its tags). False if there was none.</summary>
    public bool Remove(string id)
    {
        lock (_sync) return ById(id) is { } r && _records.Remove(r.Hex);
    }

    /// <summary>Marks blobs and chain ids as in use by a pull until the returned handle is disposed.</summary>
    public IDisposable Pin(IEnumerable<string> keys)
    {
        var list = keys.ToList();
        lock (_sync)
            foreach (var k in list) _pins[k] = _pins.GetValueOrDefault(k) + 1;
        return new Unpin(this, list);
    }

    sealed class Unpin(ImageStore store, List<string> keys) : IDisposable
    {
        int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1) return;
            lock (store._sync)
                foreach (var k in keys)
                    if (--store._pins[k] == 0) store._pins.Remove(k);
        }
    }

    /// <summary>Deletes blobs and layers that no image, pull or container references. Returns (blobs, layers) removed.</summary>
    public (int Blobs, int Layers) CollectGarbage()
    {
        var inUse = _users.LayersInUse();
        lock (_sync)
        {
            var keep = new HashSet<string>(_pins.Keys, StringComparer.Ordinal);
            foreach (var r in _records.All())
            {
                keep.UnionWith(r.Blobs);
                keep.Add(r.Id);
                keep.UnionWith(r.ChainIds);
            }
            keep.UnionWith(inUse);
            int blobs = 0, layers = 0;
            foreach (var b in _content.List().ToList())
                if (!keep.Contains(b.ToString())) { _content.Delete(b); blobs++; }
            foreach (var l in _layers.List().ToList())
                if (!keep.Contains(l.ToString())) { _layers.Delete(l); layers++; }
            return (blobs, layers);
        }
    }
}
