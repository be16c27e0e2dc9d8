namespace CriSharp.Mechanism.Cgroups.V2;

/// <summary>cgroup v2: everything under one directory per cgroup; controllers not enabled there simply have no files.</summary>
public sealed class CgroupV2StatsReader : CgroupStatsReader
{
    readonly string _root;
    readonly string[] _hugePageSizes;

    /// <param name="root">the cgroup2 mount (or, in tests, a directory laid out like one).</param>
    /// <param name="hugePageSizes">page sizes to read ("2MB"); default: those the kernel offers (<see cref="HostFeatures.HugePageSizes"/>).</param>
    public CgroupV2StatsReader(string root, IEnumerable<string>? hugePageSizes = null)
    {
        _root = root;
        _hugePageSizes = [.. hugePageSizes ?? HostFeatures.Current.HugePageSizes ?? []];
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
