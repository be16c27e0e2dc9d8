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
        var stats = new CgroupStats { Timestamp = Now() };

        if ((parts & (CgroupStatsParts.Cpu | CgroupStatsParts.CpuDetail)) != 0 && _cpuacct != null)
        {
            var dir = Join(_cpuacct, cgroupPath);
            var usage = CgroupFiles.ReadULong(Path.Combine(dir, "cpuacct.usage")) ?? 0;
            var cpu = new CpuStats(usage);
            if ((parts & CgroupStatsParts.CpuDetail) != 0)
            {
                ulong user, sys;
                if (_cpuacctSplit)
                {
                    user = CgroupFiles.ReadULong(Path.Combine(dir, "cpuacct.usage_user")) ?? 0;
                    sys = CgroupFiles.ReadULong(Path.Combine(dir, "cpuacct.usage_sys")) ?? 0;
                }
                else
                {
                    // cpuacct.stat counts USER_HZ (100/s) ticks.
                    var ticks = CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(dir, "cpuacct.stat")));
                    user = ticks.GetValueOrDefault("user") * 10_000_000;
                    sys = ticks.GetValueOrDefault("system") * 10_000_000;
                }
                var cfs = _cpu == null ? [] : CgroupFiles.ParseKeyed(CgroupFiles.Read(Path.Combine(Join(_cpu, cgroupPath), "cpu.stat")));
                cpu = cpu with
                {
                    UserNanos = user,
                    SystemNanos = sys,
                    Periods = cfs.GetValueOrDefault("nr_periods"),
                    ThrottledPeriods = cfs.GetValueOrDefault("nr_throttled"),
                    ThrottledNanos = cfs.GetValueOrDefault("throttled_time"),
                };
            }
            stats = stats with { Cpu = cpu };
        }

        if ((parts & CgroupStatsParts.CpuSpec) != 0 && _cpu != null)
        {
            var dir = Join(_cpu, cgroupPath);
            var quota = CgroupFiles.ReadULong(Path.Combine(dir, "cpu.cfs_quota_us"));
            stats = stats with
            {
                CpuSpec = new CpuSpec(
                    CgroupFiles.ReadULong(Path.Combine(dir, "cpu.cfs_period_us")) ?? 0,
                    quota is { } q && q != ulong.MaxValue ? q : 0,
                    CgroupFiles.ReadULong(Path.Combine(dir, "cpu.shares")) ?? 0),
            };
        }

        if ((parts & (CgroupStatsParts.Memory | CgroupStatsParts.MemoryDetail)) != 0 && _memory != null)
            stats = stats with { Memory = ReadMemory(Join(_memory, cgroupPath), parts) };

        if ((parts & CgroupStatsParts.Pids) != 0 && _pids != null)
        {
            var dir = Join(_pids, cgroupPath);
            stats = stats with
            {
                Pids = new PidsStats(CgroupFiles.ReadULong(Path.Combine(dir, "pids.current")) ?? 0,
                    CgroupFiles.Limit(CgroupFiles.ReadULong(Path.Combine(dir, "pids.max")))),
            };
        }

        if ((parts & CgroupStatsParts.BlockIo) != 0 && _blkio != null)
        {
            var dir = Join(_blkio, cgroupPath);
            stats = stats with
            {
                BlockIo = CgroupFiles.ParseBlkioV1(
                    CgroupFiles.Read(Path.Combine(dir, "blkio.throttle.io_service_bytes_recursive")),
                    CgroupFiles.Read(Path.Combine(dir, "blkio.throttle.io_serviced_recursive"))),
            };
        }

        if ((parts & CgroupStatsParts.Hugetlb) != 0 && _hugetlb != null)
        {
            var dir = Join(_hugetlb, cgroupPath);
            stats = stats with
            {
                Hugetlb = [.. _hugePageSizes.Select(size => new HugetlbUsage(size,
                    CgroupFiles.ReadULong(Path.Combine(dir, $"hugetlb.{size}.usage_in_bytes")) ?? 0,
                    CgroupFiles.ReadULong(Path.Combine(dir, $"hugetlb.{size}.max_usage_in_bytes")) ?? 0))],
            };
        }

        if ((parts & CgroupStatsParts.Pressure) != 0 && _unified != null)
        {
            var dir = Join(_unified, cgroupPath);
            if (Directory.Exists(dir))
            {
                var (cpu, mem, io) = ReadPressure(dir);
                stats = stats with { CpuPressure = cpu, MemoryPressure = mem, IoPressure = io };
            }
        }
        return stats;
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
