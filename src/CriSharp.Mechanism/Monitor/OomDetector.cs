using System.Globalization;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;

namespace CriSharp.Mechanism.Monitor;

/// <summary>
/// Tells whether a container was OOM-killed. conmon 2.1 creates an empty `oom` file in its persist dir (and its
/// working directory, both the bundle here) when the memory cgroup reports an OOM kill; the cgroup's own
/// `oom_kill` counter is the fallback while the cgroup still exists.
/// </summary>
public static class OomDetector
{
    /// <summary>conmon's marker: `&lt;persistDir&gt;/oom`.</summary>
    public static bool HasOomFile(string persistDir) => File.Exists(Path.Combine(persistDir, "oom"));

    /// <summary>
    /// True if any of <paramref name="cgroupDirs"/> counts an OOM kill: `memory.events` (v2) or
    /// `memory.oom_control` (v1), both as an `oom_kill N` line.
    /// </summary>
    public static bool WasOomKilled(IEnumerable<string> cgroupDirs)
    {
        foreach (var dir in cgroupDirs)
        {
            if (OomKillCount(Path.Combine(dir, "memory.events")) > 0) return true;
            if (OomKillCount(Path.Combine(dir, "memory.oom_control")) > 0) return true;
        }
        return false;
    }

    /// <summary>
    /// The container's memory cgroup (as <paramref name="cgroups"/> lays out <paramref name="cgroupPath"/>) counts an
    /// OOM kill, or conmon left its marker in <paramref name="persistDir"/> (the bundle) when one is given.
    /// </summary>
    public static bool WasOomKilled(ICgroupManager cgroups, string cgroupPath, string? persistDir = null)
    {
        if (persistDir is not null && HasOomFile(persistDir)) return true;
        if (string.IsNullOrEmpty(cgroupPath)) return false;
        var relative = cgroupPath.TrimStart('/');
        string? dir = cgroups switch
        {
            CgroupfsV2Manager v2 => v2.DirOf(cgroupPath),
            CgroupfsV1Manager v1 => v1.DirOf("memory", cgroupPath),
            { IsV2: true } => Path.Combine(CgroupManager.DefaultRoot, relative),
            _ => Path.Combine(CgroupManager.DefaultRoot, "memory", relative),
        };
        return dir is not null && WasOomKilled([dir]);
    }

    /// <summary>Either signal: conmon's marker in <paramref name="persistDir"/> or a cgroup counter.</summary>
    public static bool WasOomKilled(string persistDir, IEnumerable<string> cgroupDirs) =>
        HasOomFile(persistDir) || WasOomKilled(cgroupDirs);

    static long OomKillCount(string file)
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
}
