namespace CriSharp.Images.Content;

/// <summary>
/// Where a blob download writes: a partial file the fetcher appends to. <see cref="Length"/> is how
/// much is already there (from an interrupted attempt), so a fetcher can resume with a Range request.
/// The content store verifies size and digest after the fetch; fetchers never rename into place.
/// </summary>
public sealed class IngestTarget(Descriptor descriptor, string path)
{
    public Descriptor Descriptor { get; } = descriptor;
    public string Path { get; } = path;
    public long Length => File.Exists(Path) ? new FileInfo(Path).Length : 0;

    /// <summary>Opens the partial file for appending (created if missing).</summary>
    public FileStream OpenAppend() => new(Path, FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);

    /// <summary>Discards the partial content, e.g. when the server ignored a Range request.</summary>
    public void Truncate() => File.WriteAllBytes(Path, []);
}
