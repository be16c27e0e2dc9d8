using System.Collections.Concurrent;
using CriSharp.Images;
using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Runtime.Stats;

/// <summary>Bytes and inodes of a container's writable layer (its overlay upper dir), measured at <see cref="Timestamp"/> (unix ns).</summary>
public sealed record LayerUsage(string Path, ulong Bytes, ulong Inodes, long Timestamp);

/// <summary>The file system holding the writable layers: its device and size (for container_fs_* metrics).</summary>
public sealed record LayerFileSystem(string Device, ulong TotalBytes, ulong TotalInodes, ulong FreeInodes);

/// <summary>
/// Writable-layer usage per container. Walking an upper dir is slow for a big one, so the numbers are
/// cached with their timestamp and refreshed off the request path by <see cref="RefreshAll"/> (run by
/// <see cref="StatsService"/>'s refresher); a container never measured yet is measured on demand.
/// </summary>
public sealed class WritableLayerUsage
{
    readonly ConcurrentDictionary<string, LayerUsage> _cache = new(StringComparer.Ordinal);
    LayerFileSystem? _fs;

    /// <summary>The cached usage, measuring it now if the container has none yet.</summary>
    public LayerUsage Get(ContainerRecord c) => _cache.TryGetValue(c.Id, out var u) ? u : _cache[c.Id] = Measure(c);

    /// <summary>The cached usage or null (never measures).</summary>
    public LayerUsage? Cached(string containerId) => _cache.GetValueOrDefault(containerId);

    /// <summary>Measures every container in <paramref name="containers"/> and forgets the others.</summary>
    public void RefreshAll(IReadOnlyList<ContainerRecord> containers, string layersRoot)
    {
        var live = containers.Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var id in _cache.Keys)
            if (!live.Contains(id)) _cache.TryRemove(id, out _);
        foreach (var c in containers)
            _cache[c.Id] = Measure(c);
        _fs = MeasureFileSystem(layersRoot);
    }

    /// <summary>The writable layers' file system (cached; measured now on first use).</summary>
    public LayerFileSystem FileSystem(string layersRoot) => _fs ??= MeasureFileSystem(layersRoot);

    public static LayerUsage Measure(ContainerRecord c)
    {
        var upper = System.IO.Path.Combine(c.LayerDir, "upper");
        var u = ImageFsUsage.Walk(upper);
        return new LayerUsage(upper, (ulong)u.Bytes, (ulong)u.Inodes, Naming.NowNanos());
    }

    /// <summary>The mount whose mount point is the longest prefix of <paramref name="path"/>.</summary>
    static MountInfo? ContainingMount(string path)
    {
        var full = System.IO.Path.GetFullPath(path).TrimEnd('/');
        MountInfo? best = null;
        foreach (var m in Mounts.ReadMountInfo())
        {
            var mp = m.MountPoint.TrimEnd('/');
            if ((full == mp || full.StartsWith(mp + "/", StringComparison.Ordinal)) && (best == null || mp.Length >= best.MountPoint.TrimEnd('/').Length))
                best = m;
        }
        return best;
    }

    static LayerFileSystem MeasureFileSystem(string root)
    {
        Directory.CreateDirectory(root);
        var device = ContainingMount(root)?.Source ?? "";
        try
        {
            var s = FileSystemSpaceReader.Statvfs(root);
            return new LayerFileSystem(device, s.TotalBytes, s.TotalInodes, s.FreeInodes);
        }
        catch (LinuxException)
        {
            return new LayerFileSystem(device, 0, 0, 0);
        }
    }
}
