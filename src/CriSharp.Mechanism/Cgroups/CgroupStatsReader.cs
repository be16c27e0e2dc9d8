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

    /// <summary>The reader matching the cgroup driver (<see cref="ICgroupManager.CreateStatsReader"/>): v1 or v2.</summary>
    public static CgroupStatsReader ForHost(ICgroupManager cgroups) => cgroups.CreateStatsReader();

    protected static string Join(string root, string path) => root.TrimEnd('/') + CgroupManager.NormalizePath(path);

    protected static long Now() => Naming.NowNanos();

    /// <summary>PSI files of a cgroup2 directory, or nulls where the kernel has none.</summary>
    protected static (PressureStats? Cpu, PressureStats? Memory, PressureStats? Io) ReadPressure(string dir) => (
        CgroupFiles.ParsePressure(CgroupFiles.Read(Path.Combine(dir, "cpu.pressure"))),
        CgroupFiles.ParsePressure(CgroupFiles.Read(Path.Combine(dir, "memory.pressure"))),
        CgroupFiles.ParsePressure(CgroupFiles.Read(Path.Combine(dir, "io.pressure"))));
}
