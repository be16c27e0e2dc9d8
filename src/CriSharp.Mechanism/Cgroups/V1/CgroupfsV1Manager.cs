using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Mechanism.Cgroups.V1;

/// <summary>cgroupfs on the legacy (v1) hierarchies: one directory per controller hierarchy.</summary>
public sealed class CgroupfsV1Manager(IReadOnlyDictionary<string, string> hierarchies, string? unifiedMount = null) : CgroupfsManagerBase
{
    /// <summary>
    /// On hybrid hosts the cgroup2 mount (e.g. /sys/fs/cgroup/unified) next to the v1 hierarchies; the OCI
    /// runtimes create the container's path there too, so removal must clean it as well.
    /// </summary>
    public string? UnifiedMount { get; } = unifiedMount;

    /// <summary>The cgroup2 mount of a hybrid host, or null.</summary>
    public static string? DiscoverUnifiedMount() =>
        Mounts.ReadMountInfo().FirstOrDefault(m => m.FsType == "cgroup2")?.MountPoint;

    /// <summary>Controller (or "name=x") → mount point of its hierarchy, as mounted in this process.</summary>
    public IReadOnlyDictionary<string, string> Hierarchies { get; } = hierarchies;

    public override bool IsV2 => false;

    /// <summary>The v1 hierarchies from /proc/self/mountinfo (controllers sharing a mount map to the same dir).</summary>
    public static IReadOnlyDictionary<string, string> DiscoverHierarchies()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in Mounts.ReadMountInfo())
        {
            if (m.FsType != "cgroup") continue;
            foreach (var opt in m.SuperOptions.Split(','))
            {
                if (opt is "rw" or "ro" or "noprefix" or "clone_children" or "xattr" || opt.StartsWith("release_agent=", StringComparison.Ordinal))
                    continue;
                map.TryAdd(opt, m.MountPoint);
            }
        }
        return map;
    }

    /// <summary>The directory of <paramref name="path"/> in <paramref name="controller"/>'s hierarchy, or null if not mounted.</summary>
    public string? DirOf(string controller, string path) =>
        Hierarchies.TryGetValue(controller, out var mount) ? Join(mount, CgroupManager.NormalizePath(path)) : null;

    public override void Create(string path, ResourceSpec? resources)
    {
        path = CgroupManager.NormalizePath(path);
        // Named hierarchies (name=systemd) carry no resources; runc makes its own dirs there.
        foreach (var mount in Hierarchies.Where(h => !h.Key.StartsWith("name=", StringComparison.Ordinal)).Select(h => h.Value).Distinct())
        {
            var dir = Join(mount, path);
            try
            {
                Directory.CreateDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CgroupException(dir, $"cannot create: {e.Message}", e);
            }
        }
        if (Hierarchies.TryGetValue("cpuset", out var cpusetMount)) InheritCpuset(cpusetMount, path);
        if (resources is not null) Apply(path, resources);
    }

    /// <summary>A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: copy them down from the parent.</summary>
    static void InheritCpuset(string mount, string path)
    {
        var parent = mount.TrimEnd('/');
        foreach (var prefix in Prefixes(path))
        {
            var dir = Join(mount, prefix);
            foreach (var file in new[] { "cpuset.cpus", "cpuset.mems" })
            {
                var own = Path.Combine(dir, file);
                if (File.Exists(own) && ReadFile(own).Length == 0)
                    WriteFile(own, ReadFile(Path.Combine(parent, file)));
            }
            parent = dir;
        }
    }

    public override void Update(string path, ResourceSpec resources)
    {
        path = CgroupManager.NormalizePath(path);
        if (DirOf("memory", path) is { } mem && !Directory.Exists(mem))
            throw new CgroupException(path, "does not exist");
        Apply(path, resources);
    }

    void Apply(string path, ResourceSpec r)
    {
        if (DirOf("cpu", path) is { } cpu)
        {
            if (r.CpuShares > 0) WriteFile(Path.Combine(cpu, "cpu.shares"), Num(r.CpuShares));
            if (r.CpuPeriod > 0) WriteFile(Path.Combine(cpu, "cpu.cfs_period_us"), Num(r.CpuPeriod));
            if (r.CpuQuota != 0) WriteFile(Path.Combine(cpu, "cpu.cfs_quota_us"), Num(r.CpuQuota > 0 ? r.CpuQuota : -1));
        }
        if (DirOf("memory", path) is { } mem)
        {
            var limit = Path.Combine(mem, "memory.limit_in_bytes");
            var memsw = Path.Combine(mem, "memory.memsw.limit_in_bytes");
            bool swap = r.MemorySwapLimitInBytes != 0 && File.Exists(memsw);
            if (r.MemoryLimitInBytes > 0 && swap)
            {
                // memsw must stay >= the memory limit: raise the one that allows the other first.
                try
                {
                    WriteFile(limit, Num(r.MemoryLimitInBytes));
                    WriteFile(memsw, Num(r.MemorySwapLimitInBytes));
                }
                catch (CgroupException)
                {
                    WriteFile(memsw, Num(r.MemorySwapLimitInBytes));
                    WriteFile(limit, Num(r.MemoryLimitInBytes));
                }
            }
            else if (r.MemoryLimitInBytes > 0) WriteFile(limit, Num(r.MemoryLimitInBytes));
            else if (swap) WriteFile(memsw, Num(r.MemorySwapLimitInBytes));
        }
        if (DirOf("cpuset", path) is { } cpuset)
        {
            if (r.CpusetCpus.Length > 0) WriteFile(Path.Combine(cpuset, "cpuset.cpus"), r.CpusetCpus);
            if (r.CpusetMems.Length > 0) WriteFile(Path.Combine(cpuset, "cpuset.mems"), r.CpusetMems);
        }
        if (r.HugepageLimits.Count > 0)
        {
            var hugetlb = DirOf("hugetlb", path) ?? throw new CgroupException(path, "hugepage limits requested but the hugetlb controller is not mounted");
            foreach (var h in r.HugepageLimits)
                WriteFile(Path.Combine(hugetlb, $"hugetlb.{HugePageSize(h.PageSize)}.limit_in_bytes"), h.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        // r.Unified is for the v2 hierarchy only; the kubelet does not send it on v1 hosts.
    }

    public override void Remove(string path)
    {
        path = CgroupManager.NormalizePath(path);
        foreach (var mount in Hierarchies.Values.Append(UnifiedMount).OfType<string>().Distinct()) RemoveTree(Join(mount, path));
    }

    /// <summary>The v1 reader over these hierarchies, plus PSI from a hybrid host's cgroup2 mount.</summary>
    public override CgroupStatsReader CreateStatsReader() => new CgroupV1StatsReader(Hierarchies, UnifiedMount);

    /// <summary>The count in memory.oom_control of the cgroup's memory hierarchy dir; 0 without a memory hierarchy.</summary>
    public override long OomKillCount(string cgroupPath) =>
        DirOf("memory", cgroupPath) is { } dir ? CgroupV1OomCounter.Count(dir) : 0;

    static string Num(long v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
