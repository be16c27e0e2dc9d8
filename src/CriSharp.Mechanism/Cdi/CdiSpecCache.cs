using CriSharp.Linux;

namespace CriSharp.Mechanism.Cdi;

/// <summary>
/// The spec files of a list of directories, parsed once and re-parsed only when a file's identity (mtime, size,
/// inode) changes. A file changed within the last <see cref="RacyWindow"/> of its reading is read again on the next
/// scan, since a rewrite within one timestamp tick keeps the mtime. Not thread-safe: <see cref="CdiRegistry"/> locks.
/// </summary>
internal sealed class CdiSpecCache
{
    static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(2);

    readonly record struct FileKey(UnixTime ModificationTime, long Size, ulong Inode);

    sealed record Entry(FileKey Key, DateTimeOffset ReadAt, CdiSpecFile? Spec, string? Error)
    {
        public bool Trusted => ReadAt - Key.ModificationTime.ToDateTimeOffset() > RacyWindow;
    }

    readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);

    /// <summary>How many times a file was parsed (for tests).</summary>
    internal int Parses { get; private set; }

    /// <summary>Lists the directories, refreshes what changed, and indexes the devices.</summary>
    public CdiSpecIndex Scan(IReadOnlyList<string> dirs)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var specs = new List<(int Dir, CdiSpecFile Spec)>();
        var broken = new List<(string Path, string Reason)>();
        for (int dir = 0; dir < dirs.Count; dir++)
        {
            if (List(dirs[dir], broken) is not { } paths) continue;
            foreach (var path in paths)
            {
                if (!seen.Add(path)) continue;
                if (Refresh(path) is not { } entry) continue;
                if (entry.Spec is { } spec) specs.Add((dir, spec));
                else broken.Add((path, entry.Error ?? "unreadable"));
            }
        }
        foreach (var gone in entries.Keys.Where(p => !seen.Contains(p)).ToList()) entries.Remove(gone);
        return new CdiSpecIndex(dirs, specs, broken);
    }

    /// <summary>The *.json and *.yaml entries directly in <paramref name="dir"/>, ordinal order; null for a missing directory.</summary>
    static List<string>? List(string dir, List<(string Path, string Reason)> broken)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(dir)
                .Where(p => p.EndsWith(".json", StringComparison.Ordinal) || p.EndsWith(".yaml", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            broken.Add((dir, $"cannot list the directory: {e.Message}"));
            return null;
        }
    }

    /// <summary>The file's entry, re-parsed if it changed; null when it is no spec file (a directory, or gone).</summary>
    Entry? Refresh(string path)
    {
        var (status, error) = Stat(path);
        if (error is not null || status is not { Kind: FileKind.Regular } found)
        {
            entries.Remove(path);
            return error is null ? null : Remember(path, default, null, error);
        }
        var key = new FileKey(found.ModificationTime, found.Size, found.Inode);
        if (entries.TryGetValue(path, out var cached) && cached.Key == key && cached.Trusted) return cached;
        Parses++;
        try
        {
            return Remember(path, key, CdiSpecFile.Load(path), null);
        }
        catch (CdiSpecException e)
        {
            return Remember(path, key, null, e.Reason);
        }
    }

    Entry Remember(string path, FileKey key, CdiSpecFile? spec, string? error) =>
        entries[path] = new Entry(key, DateTimeOffset.UtcNow, spec, error);

    /// <summary>
    /// stat(2) of the final target (a symlinked spec is read where it points): null status and null error when the
    /// entry is gone, an error for a dangling or looping symlink or a failed stat.
    /// </summary>
    static (FileStatus? Status, string? Error) Stat(string path)
    {
        try
        {
            if (FileSystem.GetKind(path) is var kind && kind == FileKind.Missing) return (null, null);
            if (kind != FileKind.Symlink) return (FileMetadata.Lstat(path), null);
            var target = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
            return FileSystem.GetKind(target) == FileKind.Missing
                ? (null, $"dangling symlink to {target}")
                : (FileMetadata.Lstat(target), null);
        }
        catch (Exception e) when (e is LinuxException or IOException or UnauthorizedAccessException)
        {
            return (null, $"cannot stat: {e.Message}");
        }
    }
}
