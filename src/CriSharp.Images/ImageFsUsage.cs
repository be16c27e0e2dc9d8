using System.IO.Enumeration;
using CriSharp.Configuration;
using CriSharp.State;

namespace CriSharp.Images;

/// <summary>Bytes and inodes used under a directory at a point in time.</summary>
public sealed record DiskUsage(string Path, long Bytes, long Inodes, DateTimeOffset MeasuredAt);

/// <summary>
/// Usage of the image store (blobs, layers, records) and of the containers' writable layers, for
/// ImageFsInfo. Walking a large store is slow, so the answer is cached and refreshed off the request path.
/// </summary>
public sealed class ImageFsUsage(LiveConfig config)
{
    static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(10);
    (DiskUsage Image, DiskUsage Containers)? _last;
    Task? _refresh;
    readonly object _sync = new();

    public string ImageDir => config.Current.Root;
    public string ContainersDir => StateLayout.ContainerLayers(config.Current.Root);

    public (DiskUsage Image, DiskUsage Containers) Current()
    {
        lock (_sync)
        {
            if (_last is { } last)
            {
                if (DateTimeOffset.UtcNow - last.Image.MeasuredAt > MaxAge && _refresh is null or { IsCompleted: true })
                    _refresh = Task.Run(() => { var m = Measure(); lock (_sync) _last = m; });
                return last;
            }
        }
        var first = Measure();
        lock (_sync) _last = first;
        return first;
    }

    (DiskUsage, DiskUsage) Measure()
    {
        Directory.CreateDirectory(ContainersDir);
        var containers = Walk(ContainersDir);
        var all = Walk(ImageDir);
        // The containers dir lives under the root: report the image store without it.
        var image = all with { Bytes = all.Bytes - containers.Bytes, Inodes = all.Inodes - containers.Inodes };
        return (image, containers);
    }

    /// <summary>Apparent size of regular files and the number of entries (inodes, hard links counted once each name).</summary>
    public static DiskUsage Walk(string dir)
    {
        long bytes = 0, inodes = 1;
        if (Directory.Exists(dir))
        {
            var entries = new FileSystemEnumerable<long>(dir, (ref FileSystemEntry e) => e.IsDirectory ? 0 : e.Length,
                new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 });
            foreach (var size in entries)
            {
                bytes += size;
                inodes++;
            }
        }
        return new DiskUsage(dir, bytes, inodes, DateTimeOffset.UtcNow);
    }
}
