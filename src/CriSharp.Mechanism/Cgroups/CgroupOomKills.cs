using System.Globalization;
using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>
/// The kernel's OOM kill counter of a memory cgroup: an `oom_kill N` line in memory.events (v2,
/// <see cref="CgroupV2OomCounter"/>) or memory.oom_control (v1, <see cref="CgroupV1OomCounter"/>).
/// </summary>
public static class CgroupOomKills
{
    /// <summary>N of the first `oom_kill N` line of <paramref name="file"/>; 0 when the file or the line is missing.</summary>
    public static long Read(string file)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 2 && parts[0] == "oom_kill" &&
                    long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    return n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The cgroup is gone (or never had a memory controller): no evidence.
        }
        return 0;
    }

    /// <summary>A memory cgroup dir of either version: the v2 counter when it counts a kill, else the v1 one.</summary>
    public static long InEitherFile(string dir)
    {
        var v2 = CgroupV2OomCounter.Count(dir);
        return v2 > 0 ? v2 : CgroupV1OomCounter.Count(dir);
    }
}
