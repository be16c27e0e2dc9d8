namespace CriSharp.Mechanism.Cgroups.V1;

/// <summary>cgroup v1: cpuacct, cpu, memory, pids, blkio and hugetlb hierarchies (each may be absent).</summary>
public sealed class CgroupV1StatsReader : CgroupStatsReader
{
    readonly string? _cpuacct, _cpu, _memory, _pids, _blkio, _hugetlb, _unified;
    readonly bool _cpuacctSplit, _memsw;
    readonly string[] _hugePageSizes;

    /// <param name="hierarchies">controller → mount point, as <see cref="CgroupfsV1Manager.DiscoverHierarchies"/> gives.</param>
    /// <param name="unifiedMount">a hybrid host's cgroup2 mount, read for PSI only (the OCI runtimes mirror the cgroup there).</param>
    public CgroupV1StatsReader(IReadOnlyDictionary<string, string> hierarchies, string? unifiedMount)
    {
        _cpuacct = hierarchies.GetValueOrDefault("cpuacct");
        _cpu = hierarchies.GetValueOrDefault("cpu");
        _memory = hierarchies.GetValueOrDefault("memory");
        _pids = hierarchies.GetValueOrDefault("pids");
        _blkio = hierarchies.GetValueOrDefault("blkio");
        _hugetlb = hierarchies.GetValueOrDefault("hugetlb");
        // Without PSI in the kernel the files are missing; probe once at the root instead of per read.
        _unified = unifiedMount != null && File.Exists(Path.Combine(unifiedMount, "cpu.pressure")) ? unifiedMount : null;
        _cpuacctSplit = _cpuacct != null && File.Exists(Path.Combine(_cpuacct, "cpuacct.usage_user"));
        _memsw = _memory != null && File.Exists(Path.Combine(_memory, "memory.memsw.usage_in_bytes"));
        _hugePageSizes = _hugetlb == null ? [] : [.. Directory.EnumerateFiles(_hugetlb, "hugetlb.*.usage_in_bytes")
            .Select(f => Path.GetFileName(f)["hugetlb.".Length..^".usage_in_bytes".Length]).Order(StringComparer.Ordinal)];
    }

    public override bool IsV2 => false;

    public override CgroupStats? Read(string cgroupPath, CgroupStatsParts parts = CgroupStatsParts.All)
    {
        var probe = _memory ?? _cpuacct ?? _pids;
        if (probe == null || !Directory.Exists(Join(probe, cgroupPath))) return null;
        // One record built in one go: each part is read only when asked for and its hierarchy is mounted.
        var stats = new CgroupStats
        {
            Timestamp = Now(),
            Cpu = Wants(parts, CgroupStatsParts.Cpu | CgroupStatsParts.CpuDetail) && _cpuacct != null
                ? ReadCpu(Join(_cpuacct, cgroupPath), _cpuacctSplit, _cpu, cgroupPath, parts) : null,
            CpuSpec = Wants(parts, CgroupStatsParts.CpuSpec) && _cpu != null ? ReadCpuSpec(Join(_cpu, cgroupPath)) : null,
            Memory = Wants(parts, CgroupStatsParts.Memory | CgroupStatsParts.MemoryDetail) && _memory != null
                ? ReadMemory(Join(_memory, cgroupPath), parts) : null,
            Pids = Wants(parts, CgroupStatsParts.Pids) && _pids != null ? ReadPids(Join(_pids, cgroupPath)) : null,
            BlockIo = Wants(parts, CgroupStatsParts.BlockIo) && _blkio != null ? ReadBlockIo(Join(_blkio, cgroupPath)) : [],
            Hugetlb = Wants(parts, CgroupStatsParts.Hugetlb) && _hugetlb != null ? ReadHugetlb(Join(_hugetlb, cgroupPath), _hugePageSizes) : [],
        };
        return Wants(parts, CgroupStatsParts.Pressure) && _unified != null ? WithPressure(stats, Join(_unified, cgroupPath)) : stats;
    }

    static bool Wants(CgroupStatsParts parts, CgroupStatsParts any) => (parts & any) != 0;

    /// <summary>
    /// cpuacct's usage; with <see cref="CgroupStatsParts.CpuDetail"/> also the user/system split (from the split
    /// files where the kernel has them, else from cpuacct.stat) and the CFS counters of the cpu hierarchy, if mounted.
    /// </summary>
    static CpuStats ReadCpu(string cpuacctDir, bool split, string? cpuMount, string cgroupPath, CgroupStatsParts parts)
    {
        var cpu = new CpuStats(CgroupFiles.ReadULong(Path.Combine(cpuacctDir, "cpuacct.usage")) ?? 0);
        if (!Wants(parts, CgroupStatsParts.CpuDetail)) return cpu;
        var (user, sys) = split ? ReadSplitCpuTimes(cpuacctDir) : ReadTickCpuTimes(cpuacctDir);
        var cfs = cpuMount == null ? [] : CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(Join(cpuMount, cgroupPath), "cpu.stat")));
        return cpu with
        {
            UserNanos = user,
            SystemNanos = sys,
            Periods = cfs.GetValueOrDefault("nr_periods"),
            ThrottledPeriods = cfs.GetValueOrDefault("nr_throttled"),
            ThrottledNanos = cfs.GetValueOrDefault("throttled_time"),
        };
    }

    /// <summary>User and system CPU time in nanoseconds from cpuacct.usage_user and cpuacct.usage_sys.</summary>
    static (ulong User, ulong Sys) ReadSplitCpuTimes(string cpuacctDir) => (
        CgroupFiles.ReadULong(Path.Combine(cpuacctDir, "cpuacct.usage_user")) ?? 0,
        CgroupFiles.ReadULong(Path.Combine(cpuacctDir, "cpuacct.usage_sys")) ?? 0);

    /// <summary>User and system CPU time in nanoseconds from cpuacct.stat, which counts USER_HZ (100/s) ticks.</summary>
    static (ulong User, ulong Sys) ReadTickCpuTimes(string cpuacctDir)
    {
        var ticks = CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(cpuacctDir, "cpuacct.stat")));
        return (ticks.GetValueOrDefault("user") * 10_000_000, ticks.GetValueOrDefault("system") * 10_000_000);
    }

    /// <summary>The CFS period, quota (0 for none: -1 reads as ulong.MaxValue) and shares of a cpu hierarchy directory.</summary>
    static CpuSpec ReadCpuSpec(string dir)
    {
        var quota = CgroupFiles.ReadULong(Path.Combine(dir, "cpu.cfs_quota_us"));
        return new CpuSpec(
            CgroupFiles.ReadULong(Path.Combine(dir, "cpu.cfs_period_us")) ?? 0,
            quota is { } q && q != ulong.MaxValue ? q : 0,
            CgroupFiles.ReadULong(Path.Combine(dir, "cpu.shares")) ?? 0);
    }

    static PidsStats ReadPids(string dir) =>
        new(CgroupFiles.ReadULong(Path.Combine(dir, "pids.current")) ?? 0, CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "pids.max"))));

    /// <summary>Bytes and operations per device from the recursive blkio throttle counters.</summary>
    static IReadOnlyList<BlockDeviceIo> ReadBlockIo(string dir) => CgroupFiles.ParseBlkioV1(
        CgroupFiles.Read(Path.Combine(dir, "blkio.throttle.io_service_bytes_recursive")),
        CgroupFiles.Read(Path.Combine(dir, "blkio.throttle.io_serviced_recursive")));

    /// <summary>Usage and peak of each page size the hugetlb hierarchy offers.</summary>
    static IReadOnlyList<HugetlbUsage> ReadHugetlb(string dir, string[] pageSizes) =>
        [.. pageSizes.Select(size => new HugetlbUsage(size,
            CgroupFiles.ReadULong(Path.Combine(dir, $"hugetlb.{size}.usage_in_bytes")) ?? 0,
            CgroupFiles.ReadULong(Path.Combine(dir, $"hugetlb.{size}.max_usage_in_bytes")) ?? 0))];

    /// <summary>PSI from the hybrid host's cgroup2 mirror of the cgroup, when that directory exists.</summary>
    static CgroupStats WithPressure(CgroupStats stats, string unifiedDir)
    {
        if (!Directory.Exists(unifiedDir)) return stats;
        var (cpu, mem, io) = ReadPressure(unifiedDir);
        return stats with { CpuPressure = cpu, MemoryPressure = mem, IoPressure = io };
    }

    MemoryStats? ReadMemory(string dir, CgroupStatsParts parts)
    {
        var usageValue = CgroupFiles.ReadULong(Path.Combine(dir, "memory.usage_in_bytes"));
        if (usageValue is not { } usage) return null;
        var stat = CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(dir, "memory.stat")));
        var inactive = stat.GetValueOrDefault("total_inactive_file");
        ulong swap = stat.GetValueOrDefault("total_swap"), swapAvailable = 0, memswLimit = 0;
        if (_memsw)
        {
            var memsw = CgroupFiles.ReadULong(Path.Combine(dir, "memory.memsw.usage_in_bytes")) ?? usage;
            swap = memsw > usage ? memsw - usage : 0;
            memswLimit = CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "memory.memsw.limit_in_bytes")));
            swapAvailable = memswLimit > memsw ? memswLimit - memsw : 0;
        }
        var m = new MemoryStats
        {
            Usage = usage,
            WorkingSet = usage > inactive ? usage - inactive : 0,
            Rss = stat.GetValueOrDefault("total_rss"),
            Cache = stat.GetValueOrDefault("total_cache"),
            MappedFile = stat.GetValueOrDefault("total_mapped_file"),
            InactiveFile = inactive,
            ActiveFile = stat.GetValueOrDefault("total_active_file"),
            PageFaults = stat.GetValueOrDefault("pgfault"),
            MajorPageFaults = stat.GetValueOrDefault("pgmajfault"),
            HierarchyPageFaults = stat.GetValueOrDefault("total_pgfault"),
            HierarchyMajorPageFaults = stat.GetValueOrDefault("total_pgmajfault"),
            Limit = CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "memory.limit_in_bytes"))),
            Swap = swap,
            SwapAvailable = swapAvailable,
        };
        if ((parts & CgroupStatsParts.MemoryDetail) == 0) return m;
        return m with
        {
            MaxUsage = CgroupFiles.ReadULong(Path.Combine(dir, "memory.max_usage_in_bytes")) ?? 0,
            Failcnt = CgroupFiles.ReadULong(Path.Combine(dir, "memory.failcnt")) ?? 0,
            KernelUsage = CgroupFiles.ReadULong(Path.Combine(dir, "memory.kmem.usage_in_bytes")) ?? 0,
            OomKills = CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(dir, "memory.oom_control"))).GetValueOrDefault("oom_kill"),
            Reservation = CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "memory.soft_limit_in_bytes"))),
            SwapLimit = memswLimit,
        };
    }

    string? ProcsDir(string cgroupPath)
    {
        var mount = _memory ?? _pids ?? _cpuacct;
        return mount == null ? null : Join(mount, cgroupPath);
    }

    public override IReadOnlyList<int> Processes(string cgroupPath) =>
        ProcsDir(cgroupPath) is { } dir ? CgroupFiles.ParsePids(CgroupFiles.Read(Path.Combine(dir, "cgroup.procs"))) : [];

    public override int Threads(string cgroupPath) =>
        ProcsDir(cgroupPath) is { } dir ? CgroupFiles.CountLines(CgroupFiles.Read(Path.Combine(dir, "tasks"))) : 0;
}
