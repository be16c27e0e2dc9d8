namespace CriSharp.Linux;

/// <summary>Paths inside a directory that stands for "/" (a rootfs, an image): symlinks cannot lead out of it.</summary>
public static class RootedPath
{
    /// <summary>
    /// <paramref name="path"/> inside <paramref name="root"/> with every symlink resolved as if <paramref name="root"/>
    /// were "/": absolute targets restart at the root and ".." stops there, so the result never leaves it.
    /// </summary>
    public static string Resolve(string root, string path)
    {
        var resolved = new List<string>();
        var pending = new LinkedList<string>(path.Split('/'));
        var linksFollowed = 0;
        while (pending.First is { } node)
        {
            var part = node.Value;
            pending.RemoveFirst();
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var candidate = Path.Join(root, string.Join('/', resolved), part);
            if (FileSystem.GetKind(candidate) == FileKind.Symlink)
            {
                // The kernel's own limit; a loop would otherwise spin forever.
                if (++linksFollowed > 40) throw new IOException($"too many levels of symbolic links resolving {path} in {root}");
                var target = new FileInfo(candidate).LinkTarget ?? "";
                if (target.StartsWith('/')) resolved.Clear();
                foreach (var t in target.Split('/').Reverse()) pending.AddFirst(t);
                continue;
            }
            resolved.Add(part);
        }
        return Path.Join(root, string.Join('/', resolved));
    }
}
