namespace CriSharp.Mechanism.Cgroups;

/// <summary>Which groups of cgroup files a read covers: CRI stats need few, the cAdvisor metrics need all.</summary>
[Flags]
public enum CgroupStatsParts
{
    None = 0,
    /// <summary>Cumulative CPU time.</summary>
    Cpu = 1,
    /// <summary>User/system split and CFS throttling.</summary>
    CpuDetail = 2,
    /// <summary>Usage, working set, RSS, cache, page faults, limit, swap.</summary>
    Memory = 4,
    /// <summary>Peak usage, fail count, kernel memory, OOM kills, soft and memory+swap limits.</summary>
    MemoryDetail = 8,
    Pids = 16,
    BlockIo = 32,
    Hugetlb = 64,
    /// <summary>PSI (cpu/memory/io.pressure) where the kernel and hierarchy have it.</summary>
    Pressure = 128,
    /// <summary>CFS period, quota and shares as configured.</summary>
    CpuSpec = 256,
    /// <summary>What the CRI stats RPCs report.</summary>
    Cri = Cpu | Memory | Pressure,
    All = Cpu | CpuDetail | Memory | MemoryDetail | Pids | BlockIo | Hugetlb | Pressure | CpuSpec,
}

/// <summary>One read of a cgroup: each part is null when it was not asked for or the controller is absent.</summary>
public sealed record CgroupStats
{
    /// <summary>Unix time of the read in nanoseconds.</summary>
    public long Timestamp { get; init; }
    public CpuStats? Cpu { get; init; }
    public CpuSpec? CpuSpec { get; init; }
    public MemoryStats? Memory { get; init; }
    public PidsStats? Pids { get; init; }
    public IReadOnlyList<BlockDeviceIo> BlockIo { get; init; } = [];
    public IReadOnlyList<HugetlbUsage> Hugetlb { get; init; } = [];
    public PressureStats? CpuPressure { get; init; }
    public PressureStats? MemoryPressure { get; init; }
    public PressureStats? IoPressure { get; init; }
}

/// <summary>Cumulative CPU time in nanoseconds, and CFS throttling (zero where not read).</summary>
public sealed record CpuStats(ulong UsageNanos, ulong UserNanos = 0, ulong SystemNanos = 0,
    ulong Periods = 0, ulong ThrottledPeriods = 0, ulong ThrottledNanos = 0);

/// <summary>The CFS settings: period in µs, quota in µs (0 = no quota), shares (v2: converted back from cpu.weight).</summary>
public sealed record CpuSpec(ulong PeriodMicros, ulong QuotaMicros, ulong Shares);

/// <summary>Memory in bytes; limits are 0 when unlimited.</summary>
public sealed record MemoryStats
{
    public ulong Usage { get; init; }
    /// <summary>Usage minus inactive file pages (what the kubelet evicts on).</summary>
    public ulong WorkingSet { get; init; }
    public ulong Rss { get; init; }
    public ulong Cache { get; init; }
    public ulong MappedFile { get; init; }
    public ulong InactiveFile { get; init; }
    public ulong ActiveFile { get; init; }
    /// <summary>Page faults of this cgroup alone (v2: same as the hierarchical count).</summary>
    public ulong PageFaults { get; init; }
    public ulong MajorPageFaults { get; init; }
    public ulong HierarchyPageFaults { get; init; }
    public ulong HierarchyMajorPageFaults { get; init; }
    public ulong Limit { get; init; }
    public ulong Swap { get; init; }
    /// <summary>Swap still allowed (0 with no swap limit).</summary>
    public ulong SwapAvailable { get; init; }
    public ulong MaxUsage { get; init; }
    public ulong Failcnt { get; init; }
    public ulong KernelUsage { get; init; }
    public ulong OomKills { get; init; }
    /// <summary>Soft limit (v1) / memory.low (v2).</summary>
    public ulong Reservation { get; init; }
    /// <summary>Memory+swap limit in v1 terms (v2: swap.max + memory.max).</summary>
    public ulong SwapLimit { get; init; }
}

/// <summary>Tasks in the cgroup and pids.max (0 = unlimited).</summary>
public sealed record PidsStats(ulong Current, ulong Limit);

/// <summary>Bytes and operations per block device.</summary>
public sealed record BlockDeviceIo(uint Major, uint Minor, ulong ReadBytes, ulong WriteBytes, ulong Reads, ulong Writes);

/// <summary>Hugepage usage for one page size ("2MB"); MaxUsage is 0 on v2, which does not record it.</summary>
public sealed record HugetlbUsage(string PageSize, ulong Usage, ulong MaxUsage);

/// <summary>One PSI line: averages in percent and the cumulative stall time in microseconds.</summary>
public sealed record PressureLine(double Avg10, double Avg60, double Avg300, ulong TotalMicros);

/// <summary>A *.pressure file: "some" tasks stalled, and "full" (all tasks stalled; absent for cpu on old kernels).</summary>
public sealed record PressureStats(PressureLine? Some, PressureLine? Full);
