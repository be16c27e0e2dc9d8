using CriSharp.Mechanism;
using CriSharp.Images;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Runtime.Spec;

/// <summary>Everything one container's config.json is made from.</summary>
/// <param name="PidNamespacePath">The infra or target container's /proc/&lt;pid&gt;/ns/pid when the PID mode is Pod or Target, else null.</param>
public sealed record SpecInput(ContainerSpec Container, PodSandbox Sandbox, ImageConfig Image, string RootfsPath,
    string CgroupsPath, string? PidNamespacePath, string ContainerId)
{
    /// <summary>Host facts; null means probe this host (<see cref="HostFeatures.Current"/>). Tests pin them.</summary>
    public HostFeatures? Host { get; init; }

    /// <summary>
    /// Per request mount (same index as <see cref="ContainerSpec.Mounts"/>): the idmapped clone the runtime binds
    /// instead of the host path, or null for a plain bind of the host path. Null list: no idmapped mounts.
    /// </summary>
    public IReadOnlyList<string?>? MountSources { get; init; }
}
