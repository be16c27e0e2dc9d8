using System.Collections.Concurrent;
using System.Security.Cryptography;
using CriSharp.Linux;
using CriSharp.Model;
using CriSharp.State;

namespace CriSharp.Images.Content;

/// <summary>
/// Verified blobs under root/blobs/sha256/&lt;hex&gt;. A blob is fetched into root/ingest/&lt;hex&gt;.partial,
/// size- and digest-checked, fsynced and renamed into place, so no half-written blob ever carries its
/// final name. Concurrent requests for one digest share a single fetch.
/// </summary>
public sealed class ContentStore
{
    readonly string _blobs;
    readonly string _ingest;
    readonly ConcurrentDictionary<string, Lazy<Task<string>>> _inFlight = new();

    public ContentStore(string root)
    {
        _blobs = StateLayout.Blobs(root, Digest.Algorithm);
        _ingest = StateLayout.Ingest(root);
        Directory.CreateDirectory(_blobs);
        Directory.CreateDirectory(_ingest);
    }

    public string BlobPath(Digest d) => Path.Combine(_blobs, d.Hex);

    public bool Has(Digest d) => File.Exists(BlobPath(d));

    public IEnumerable<Digest> List() =>
        Directory.EnumerateFiles(_blobs).Select(Path.GetFileName).Where(n => n!.Length == 64).Select(n => new Digest(n!));

    /// <summary>Counts the downloads actually started (not shared or cached): tests assert one per blob.</summary>
    public long FetchesStarted => Interlocked.Read(ref _fetchesStarted);
    long _fetchesStarted;

    /// <summary>
    /// Returns the path of the verified blob, fetching it with <paramref name="fetch"/> if absent.
    /// The shared fetch is not cancelled by one waiter's token; it ends on its own (stall detection).
    /// </summary>
    public async Task<string> EnsureAsync(Descriptor descriptor, Func<IngestTarget, CancellationToken, Task> fetch, CancellationToken ct)
    {
        var path = BlobPath(descriptor.Digest);
        if (File.Exists(path)) return path;
        var lazy = _inFlight.GetOrAdd(descriptor.Digest.Hex, _ => new Lazy<Task<string>>(() => SharedFetchAsync(descriptor, fetch)));
        try
        {
            return await lazy.Value.WaitAsync(ct);
        }
        finally
        {
            if (lazy.Value.IsCompleted) _inFlight.TryRemove(new(descriptor.Digest.Hex, lazy));
        }
    }

    /// <summary>Stores bytes already in memory (manifests, configs) after checking their digest.</summary>
    public string Put(Descriptor descriptor, ReadOnlySpan<byte> content)
    {
        var actual = Digest.Of(content);
        if (actual != descriptor.Digest)
            throw new BlobVerificationException($"content for {descriptor.Digest} has digest {actual}");
        var path = BlobPath(descriptor.Digest);
        if (!File.Exists(path)) State.AtomicFile.Write(path, content);
        return path;
    }

    public void Delete(Digest d)
    {
        var path = BlobPath(d);
        if (File.Exists(path)) File.Delete(path);
    }

    /// <summary>Partial downloads left by a crash: kept for resuming (verified on completion), returned for logging.</summary>
    public IReadOnlyList<string> PartialDownloads() => Directory.GetFiles(_ingest, "*.partial");

    /// <summary>Removes partial downloads whose blob is already complete or that nothing resumed for a day.</summary>
    public int PrunePartials(TimeSpan olderThan)
    {
        var n = 0;
        foreach (var f in Directory.EnumerateFiles(_ingest))
        {
            var name = Path.GetFileNameWithoutExtension(f);
            if ((name.Length == 64 && File.Exists(Path.Combine(_blobs, name))) || File.GetLastWriteTimeUtc(f) < DateTime.UtcNow - olderThan || !f.EndsWith(".partial", StringComparison.Ordinal))
            {
                File.Delete(f);
                n++;
            }
        }
        return n;
    }

    /// <summary>
    /// The fetch all waiters share; it leaves the in-flight table when it ends, also when every waiter gave up
    /// (a pull past its deadline). A finished entry left behind would hand out the path of a blob that garbage
    /// collection has deleted since, instead of fetching it again.
    /// </summary>
    async Task<string> SharedFetchAsync(Descriptor descriptor, Func<IngestTarget, CancellationToken, Task> fetch)
    {
        try { return await FetchAsync(descriptor, fetch); }
        finally { _inFlight.TryRemove(descriptor.Digest.Hex, out _); }
    }

    async Task<string> FetchAsync(Descriptor descriptor, Func<IngestTarget, CancellationToken, Task> fetch)
    {
        await Task.Yield();
        var final = BlobPath(descriptor.Digest);
        if (File.Exists(final)) return final;
        var partial = Path.Combine(_ingest, descriptor.Digest.Hex + ".partial");
        var target = new IngestTarget(descriptor, partial);
        Interlocked.Increment(ref _fetchesStarted);
        for (var attempt = 0; ; attempt++)
        {
            await fetch(target, CancellationToken.None);
            var problem = await VerifyAsync(partial, descriptor);
            if (problem == null) break;
            File.Delete(partial);
            // A partial file from before a crash may hold garbage: one clean retry, then give up.
            if (attempt > 0) throw new BlobVerificationException($"blob {descriptor.Digest}: {problem}");
        }
        using (var f = new FileStream(partial, FileMode.Open, FileAccess.ReadWrite))
            f.Flush(flushToDisk: true);
        File.Move(partial, final, overwrite: true);
        FileSystem.FsyncDirectory(_blobs);
        return final;
    }

    static async Task<string?> VerifyAsync(string path, Descriptor d)
    {
        if (!File.Exists(path)) return "nothing was downloaded";
        var length = new FileInfo(path).Length;
        if (length != d.Size) return $"size {length} does not match the descriptor's {d.Size}";
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var hex = Convert.ToHexStringLower(await SHA256.HashDataAsync(f));
        return hex == d.Digest.Hex ? null : $"content digest sha256:{hex} does not match";
    }
}

/// <summary>A blob whose bytes do not match its digest or size.</summary>
public sealed class BlobVerificationException(string message) : CriSharpException(ErrorKind.DataLoss, message);
