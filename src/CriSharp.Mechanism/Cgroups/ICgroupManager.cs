using CriSharp.Model;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>
/// Pod and container cgroups for one cgroup driver (cgroupfs today; systemd would be a second implementation).
/// Paths are in the driver's own syntax: for cgroupfs, absolute paths like <c>/kubepods/burstable/pod&lt;uid&gt;</c>.
/// </summary>
public interface ICgroupManager
{
    /// <summary>True on the unified (v2) hierarchy.</summary>
    bool IsV2 { get; }

    /// <summary>The pod's cgroup: the kubelet's cgroup_parent as given, or a default under /crisharp.</summary>
    string PodCgroupPath(string cgroupParent, string podId);

    /// <summary>The container's cgroup below the pod's: what goes into the OCI spec's cgroupsPath.</summary>
    string ContainerCgroupPath(string podCgroupPath, string containerId);

    /// <summary>Creates the cgroup (in every hierarchy on v1) and applies <paramref name="resources"/> when given.</summary>
    void Create(string path, ResourceSpec? resources);

    /// <summary>Applies <paramref name="resources"/> to an existing cgroup (zero/empty fields are left as they are).</summary>
    void Update(string path, ResourceSpec resources);

    /// <summary>Removes the cgroup and any empty children left below it; fine if it is missing.</summary>
    void Remove(string path);

    /// <summary>
    /// How many processes the kernel OOM-killed in the cgroup's memory controller; 0 when the cgroup is gone. A
    /// driver that does not say where its memory cgroups are is read at /sys/fs/cgroup (v2) or /sys/fs/cgroup/memory
    /// (v1), in either counter file.
    /// </summary>
    long OomKillCount(string cgroupPath)
    {
        var relative = cgroupPath.TrimStart('/');
        return CgroupOomKills.InEitherFile(IsV2
            ? Path.Combine(CgroupManager.DefaultRoot, relative)
            : Path.Combine(CgroupManager.DefaultRoot, "memory", relative));
    }

    /// <summary>A new reader of this driver's usage counters (same paths); a driver without one throws NotSupportedException.</summary>
    CgroupStatsReader CreateStatsReader() => throw new NotSupportedException($"no stats reader for {GetType().Name}");
}
