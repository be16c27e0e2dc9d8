using CriSharp.Images;
using CriSharp.Model;
using CriSharp.State;

namespace CriSharp.Runtime.Containers;

/// <summary>The images the recorded containers hold: their layers (rootfs and image volumes) and volume images.</summary>
public sealed class ContainerImageUsers(RecordIndex<ContainerRecord> containers) : IImageUsers
{
    public IReadOnlySet<string> LayersInUse() =>
        containers.All().SelectMany(c => c.ChainIds.Concat(c.VolumeChainIds)).ToHashSet(StringComparer.Ordinal);

    public string? VolumeUserOf(string imageId) =>
        containers.All().FirstOrDefault(c => c.VolumeImageIds.Contains(imageId))?.Id;
}
