using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>Picks the cgroup manager for this host.</summary>
public static class CgroupManager
{
    public const string DefaultRoot = HostFeatures.CgroupRoot;

    /// <summary>True when <paramref name="root"/> is a cgroup2 (unified) mount; for the host's root, as probed once.</summary>
    public static bool DetectV2(string root = DefaultRoot) =>
        root == DefaultRoot ? HostFeatures.Current.CgroupV2 : HostFeatures.IsUnifiedCgroupRoot(root);

    /// <summary>The cgroupfs driver for the hierarchy mounted at /sys/fs/cgroup (v2 if unified, else v1 from mountinfo).</summary>
    public static ICgroupManager CreateCgroupfs(string root = DefaultRoot) =>
        DetectV2(root) ? new CgroupfsV2Manager(root) : new CgroupfsV1Manager(CgroupfsV1Manager.DiscoverHierarchies(), CgroupfsV1Manager.DiscoverUnifiedMount());

    /// <summary>Checks and normalises an absolute cgroupfs path: no empty, "." or ".." segments.</summary>
    internal static string NormalizePath(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("empty cgroup path");
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0) throw new ArgumentException("the root cgroup cannot be a pod or container cgroup");
        foreach (var s in segments)
            if (s is "." or ".." || s.Any(c => c == '\0' || char.IsControl(c)))
                throw new ArgumentException($"invalid cgroup path '{path}'");
        return "/" + string.Join('/', segments);
    }
}
