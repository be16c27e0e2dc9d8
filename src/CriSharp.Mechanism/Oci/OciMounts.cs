namespace CriSharp.Mechanism.Oci;

/// <summary>Path and order rules for the mounts of an OCI spec, shared by spec generation and the CDI editor.</summary>
public static class OciMounts
{
    /// <summary>Stable: depth decides, the given order breaks ties, so a parent is always mounted before its children.</summary>
    public static List<OciMount> SortByDepth(IEnumerable<OciMount> mounts) =>
        mounts.Select((m, i) => (m, i)).OrderBy(x => Depth(x.m.Destination)).ThenBy(x => x.i).Select(x => x.m).ToList();

    static int Depth(string path) => path == "/" ? 0 : path.Count(ch => ch == '/');

    /// <summary>Lexical cleanup of an absolute path: no empty, "." or ".." components, no trailing slash.</summary>
    public static string CleanPath(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); }
            else parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }
}
