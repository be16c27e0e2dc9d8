using CriSharp.Mechanism.Cgroups;

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
    public static bool WasOomKilled(IEnumerable<string> cgroupDirs) =>
        cgroupDirs.Any(dir => CgroupOomKills.InEitherFile(dir) > 0);

    /// <summary>
    /// The container's memory cgroup (as <paramref name="cgroups"/> lays out <paramref name="cgroupPath"/>) counts an
    /// OOM kill, or conmon left its marker in <paramref name="persistDir"/> (the bundle) when one is given.
    /// </summary>
    public static bool WasOomKilled(ICgroupManager cgroups, string cgroupPath, string? persistDir = null)
    {
        if (persistDir is not null && HasOomFile(persistDir)) return true;
        return !string.IsNullOrEmpty(cgroupPath) && cgroups.OomKillCount(cgroupPath) > 0;
    }

    /// <summary>Either signal: conmon's marker in <paramref name="persistDir"/> or a cgroup counter.</summary>
    public static bool WasOomKilled(string persistDir, IEnumerable<string> cgroupDirs) =>
        HasOomFile(persistDir) || WasOomKilled(cgroupDirs);
}
