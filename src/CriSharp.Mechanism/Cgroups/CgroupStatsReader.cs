using System.Globalization;
using CriSharp.Model;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>
/// Reads usage counters of a cgroup (same path syntax as <see cref="ICgroupManager"/>): a v1 reader over the
/// per-controller hierarchies or a v2 reader over the unified one, picked from the host at start.
/// </summary>
public abstract class CgroupStatsReader
{
    public abstract bool IsV2 { get; }

    /// <summary>The counters of <paramref name="cgroupPath"/>, or null if that cgroup does not exist (any more).</summary>
    public abstract CgroupStats? Read(string cgroupPath, CgroupStatsParts parts = CgroupStatsParts.All);

    /// <summary>The pids in the cgroup (cgroup.procs; not threads).</summary>
    public abstract IReadOnlyList<int> Processes(string cgroupPath);

    /// <summary>The number of threads (tasks) in the cgroup.</summary>
    public abstract int Threads(string cgroupPath);

    /// <summary>The reader matching the cgroup driver: v1 over its hierarchies (plus PSI from a hybrid host's cgroup2 mount), or v2.</summary>
    public static CgroupStatsReader ForHost(ICgroupManager cgroups) => cgroups switch
    {
        CgroupfsV1Manager v1 => new CgroupV1StatsReader(v1.Hierarchies, v1.UnifiedMount),
        CgroupfsV2Manager v2 => new CgroupV2StatsReader(v2.Root),
        _ => throw new NotSupportedException($"no stats reader for {cgroups.GetType().Name}"),
    };

    protected static string Join(string root, string path) => root.TrimEnd('/') + CgroupManager.NormalizePath(path);

    protected static long Now() => Naming.NowNanos();

    /// <summary>PSI files of a cgroup2 directory, or nulls where the kernel has none.</summary>
    protected static (PressureStats? Cpu, PressureStats? Memory, PressureStats? Io) ReadPressure(string dir) => (
        CgroupFiles.ParsePressure(CgroupFiles.Read(Path.Combine(dir, "cpu.pressure"))),
        CgroupFiles.ParsePressure(CgroupFiles.Read(Path.Combine(dir, "memory.pressure"))),
        CgroupFiles.ParsePressure(CgroupFiles.Read(Path.Combine(dir, "io.pressure"))));

    /// <summary>"hugepages-2048kB" (sysfs) → "2MB", as cgroupfs names page sizes.</summary>
    public static string? HugePageSizeName(string sysfsDir)
    {
        var name = Path.GetFileName(sysfsDir);
        if (!name.StartsWith("hugepages-", StringComparison.Ordinal) || !name.EndsWith("kB", StringComparison.Ordinal)) return null;
        if (!ulong.TryParse(name.AsSpan(10, name.Length - 12), NumberStyles.None, CultureInfo.InvariantCulture, out var kb)) return null;
        return kb >= 1024 * 1024 ? $"{kb / (1024 * 1024)}GB" : kb >= 1024 ? $"{kb / 1024}MB" : $"{kb}KB";
    }
}

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

/// <summary>cgroup v2: everything under one directory per cgroup; controllers not enabled there simply have no files.</summary>
public sealed class CgroupV2StatsReader : CgroupStatsReader
{
    readonly string _root;
    readonly string[] _hugePageSizes;

    /// <param name="root">the cgroup2 mount (or, in tests, a directory laid out like one).</param>
    /// <param name="hugePageSizes">page sizes to read ("2MB"); default: those the kernel offers in /sys/kernel/mm/hugepages.</param>
    public CgroupV2StatsReader(string root, IEnumerable<string>? hugePageSizes = null)
    {
        _root = root;
        _hugePageSizes = hugePageSizes?.ToArray() ?? (Directory.Exists("/sys/kernel/mm/hugepages")
            ? [.. Directory.EnumerateDirectories("/sys/kernel/mm/hugepages").Select(HugePageSizeName).OfType<string>().Order(StringComparer.Ordinal)]
            : []);
    }

    public override bool IsV2 => true;

    public override CgroupStats? Read(string cgroupPath, CgroupStatsParts parts = CgroupStatsParts.All)
    {
        var dir = Join(_root, cgroupPath);
        if (!Directory.Exists(dir)) return null;
        var stats = new CgroupStats { Timestamp = Now() };

        if ((parts & (CgroupStatsParts.Cpu | CgroupStatsParts.CpuDetail)) != 0
            && CgroupFiles.Read(Path.Combine(dir, "cpu.stat")) is { } cpuText)
        {
            // cpu.stat is a core file: present even where the cpu controller is not enabled (usage only).
            var s = CgroupFiles.ParseKeyed(cpuText);
            stats = stats with
            {
                Cpu = new CpuStats(s.GetValueOrDefault("usage_usec") * 1000, s.GetValueOrDefault("user_usec") * 1000,
                    s.GetValueOrDefault("system_usec") * 1000, s.GetValueOrDefault("nr_periods"),
                    s.GetValueOrDefault("nr_throttled"), s.GetValueOrDefault("throttled_usec") * 1000),
            };
        }

        if ((parts & CgroupStatsParts.CpuSpec) != 0 && CgroupFiles.Read(Path.Combine(dir, "cpu.max")) is { } cpuMax)
        {
            var (quota, period) = CgroupFiles.ParseCpuMax(cpuMax);
            var weight = CgroupFiles.ReadULong(Path.Combine(dir, "cpu.weight")) ?? 0;
            stats = stats with { CpuSpec = new CpuSpec(period, quota, CgroupFiles.WeightToShares(weight)) };
        }

        if ((parts & (CgroupStatsParts.Memory | CgroupStatsParts.MemoryDetail)) != 0)
            stats = stats with { Memory = ReadMemory(dir, parts) };

        if ((parts & CgroupStatsParts.Pids) != 0 && CgroupFiles.ReadULong(Path.Combine(dir, "pids.current")) is { } current)
            stats = stats with { Pids = new PidsStats(current, CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "pids.max")))) };

        if ((parts & CgroupStatsParts.BlockIo) != 0)
            stats = stats with { BlockIo = CgroupFiles.ParseIoStatV2(CgroupFiles.Read(Path.Combine(dir, "io.stat"))) };

        if ((parts & CgroupStatsParts.Hugetlb) != 0)
        {
            var list = new List<HugetlbUsage>();
            foreach (var size in _hugePageSizes)
                if (CgroupFiles.ReadULong(Path.Combine(dir, $"hugetlb.{size}.current")) is { } usage)
                    list.Add(new HugetlbUsage(size, usage, 0));
            stats = stats with { Hugetlb = list };
        }

        if ((parts & CgroupStatsParts.Pressure) != 0)
        {
            var (cpu, mem, io) = ReadPressure(dir);
            stats = stats with { CpuPressure = cpu, MemoryPressure = mem, IoPressure = io };
        }
        return stats;
    }

    static MemoryStats? ReadMemory(string dir, CgroupStatsParts parts)
    {
        if (CgroupFiles.ReadULong(Path.Combine(dir, "memory.current")) is not { } usage) return null;
        var stat = CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(dir, "memory.stat")));
        var inactive = stat.GetValueOrDefault("inactive_file");
        var limit = CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "memory.max")));
        var swap = CgroupFiles.ReadULong(Path.Combine(dir, "memory.swap.current")) ?? 0;
        var swapMax = CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "memory.swap.max")));
        var faults = stat.GetValueOrDefault("pgfault");
        var majorFaults = stat.GetValueOrDefault("pgmajfault");
        var m = new MemoryStats
        {
            Usage = usage,
            WorkingSet = usage > inactive ? usage - inactive : 0,
            Rss = stat.GetValueOrDefault("anon"),
            Cache = stat.GetValueOrDefault("file"),
            MappedFile = stat.GetValueOrDefault("file_mapped"),
            InactiveFile = inactive,
            ActiveFile = stat.GetValueOrDefault("active_file"),
            // v2 counts are hierarchical only.
            PageFaults = faults,
            MajorPageFaults = majorFaults,
            HierarchyPageFaults = faults,
            HierarchyMajorPageFaults = majorFaults,
            Limit = limit,
            Swap = swap,
            SwapAvailable = swapMax > swap ? swapMax - swap : 0,
        };
        if ((parts & CgroupStatsParts.MemoryDetail) == 0) return m;
        var events = CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(dir, "memory.events")));
        var kernel = stat.TryGetValue("kernel", out var k) ? k
            : stat.GetValueOrDefault("kernel_stack") + stat.GetValueOrDefault("slab") + stat.GetValueOrDefault("sock")
              + stat.GetValueOrDefault("pagetables") + stat.GetValueOrDefault("percpu") + stat.GetValueOrDefault("vmalloc");
        return m with
        {
            MaxUsage = CgroupFiles.ReadULong(Path.Combine(dir, "memory.peak")) ?? 0,
            Failcnt = events.GetValueOrDefault("max"),
            KernelUsage = kernel,
            OomKills = events.GetValueOrDefault("oom_kill"),
            Reservation = CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "memory.low"))),
            SwapLimit = limit > 0 && swapMax > 0 ? limit + swapMax : 0,
        };
    }

    public override IReadOnlyList<int> Processes(string cgroupPath) =>
        CgroupFiles.ParsePids(CgroupFiles.Read(Path.Combine(Join(_root, cgroupPath), "cgroup.procs")));

    public override int Threads(string cgroupPath) =>
        CgroupFiles.CountLines(CgroupFiles.Read(Path.Combine(Join(_root, cgroupPath), "cgroup.threads")));
}
