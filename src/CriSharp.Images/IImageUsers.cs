namespace CriSharp.Images;

/// <summary>
/// What outside the image store holds images: the containers' overlay lower layers and image volumes. The runtime
/// implements it over its container records; the store asks before collecting garbage or removing an image.
/// </summary>
public interface IImageUsers
{
    /// <summary>Chain ids held by containers (their overlay lowerdirs and image volumes).</summary>
    IReadOnlySet<string> LayersInUse();

    /// <summary>A container that mounts the image (by id) as an image volume, or null.</summary>
    string? VolumeUserOf(string imageId);
}

/// <summary>No containers at all (the image tools, tests of the store alone).</summary>
public sealed class NoImageUsers : IImageUsers
{
    public static readonly NoImageUsers Instance = new();

    public IReadOnlySet<string> LayersInUse() => new HashSet<string>();

    public string? VolumeUserOf(string imageId) => null;
}
