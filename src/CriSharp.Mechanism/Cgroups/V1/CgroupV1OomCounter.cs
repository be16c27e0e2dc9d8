namespace CriSharp.Mechanism.Cgroups.V1;

/// <summary>OOM kills of a v1 memory cgroup, as its memory.oom_control counts them.</summary>
public static class CgroupV1OomCounter
{
    public const string FileName = "memory.oom_control";

    /// <summary>The `oom_kill` count in <paramref name="memoryDir"/>/memory.oom_control; 0 when missing.</summary>
    public static long Count(string memoryDir) => CgroupOomKills.Read(Path.Combine(memoryDir, FileName));
}
