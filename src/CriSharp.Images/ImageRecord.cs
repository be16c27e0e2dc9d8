namespace CriSharp.Images;

/// <summary>A pulled image as stored: written only after every layer is complete.</summary>
public sealed record ImageRecord
{
    /// <summary>"sha256:…" of the config blob; what PullImage returns and ListImages reports.</summary>
    public required string Id { get; init; }
    public List<string> RepoTags { get; init; } = [];
    public List<string> RepoDigests { get; init; } = [];
    /// <summary>Config plus compressed layer sizes, as kubelet's image GC counts them.</summary>
    public long Size { get; init; }
    public string User { get; init; } = "";
    public required string ManifestDigest { get; init; }
    public string ManifestMediaType { get; init; } = "";
    /// <summary>Blobs this image holds: manifests (and index), config, layers.</summary>
    public List<string> Blobs { get; init; } = [];
    /// <summary>Chain ids of the layers, bottom first; each is a directory in the layer store.</summary>
    public List<string> ChainIds { get; init; } = [];
    public bool Pinned { get; init; }
    public Dictionary<string, string> Annotations { get; init; } = [];
    public DateTime PulledAt { get; init; }

    public string Hex => Id["sha256:".Length..];
}
