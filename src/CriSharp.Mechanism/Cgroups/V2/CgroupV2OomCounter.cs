namespace CriSharp.Mechanism.Cgroups.V2;

/// <summary>OOM kills of a v2 cgroup, as its memory.events counts them.</summary>
public static class CgroupV2OomCounter
{
    public const string FileName = "memory.events";

    /// <summary>The `oom_kill` count in <paramref name="dir"/>/memory.events; 0 when missing.</summary>
    public static long Count(string dir) => CgroupOomKills.Read(Path.Combine(dir, FileName));
}
