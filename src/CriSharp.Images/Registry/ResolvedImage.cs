using CriSharp.Images.Content;
using CriSharp.Images.References;

namespace CriSharp.Images.Registry;

/// <summary>
/// The outcome of resolving a reference: the linux/amd64 manifest (verified), its config (verified)
/// and layer descriptors, and the endpoint they came from (blobs are fetched from the same place).
/// </summary>
/// <param name="ManifestDigest">The digest of the platform manifest.</param>
/// <param name="IndexDigest">The digest of the index/list the reference pointed at, if it did.</param>
public sealed record ResolvedImage(ImageReference Reference, Digest ManifestDigest, Digest? IndexDigest,
    string ManifestMediaType, byte[] ManifestBytes, Descriptor Config, byte[] ConfigBytes,
    IReadOnlyList<Descriptor> Layers, RegistryEndpoint Endpoint)
{
    /// <summary>The digest the user pulled (index digest when the tag pointed at an index): the image's repo digest.</summary>
    public Digest RepoDigest => IndexDigest ?? ManifestDigest;

    /// <summary>Credentials of the pull, kept for blob requests (a token may need renewing); never printed.</summary>
    internal RegistryCredentials? Credentials { get; init; }
}
