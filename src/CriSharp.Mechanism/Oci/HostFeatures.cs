using System.Globalization;


namespace CriSharp.Mechanism.Oci;

/// <summary>What the generator needs to know about the host; <see cref="Current"/> probes it once.</summary>
/// <param name="OpenFilesHardLimit">This process's RLIMIT_NOFILE hard limit: without CAP_SYS_RESOURCE the runtime cannot grant more.</param>
/// <param name="BoundingCapabilities">This process's capability bounding set (CapBnd): a runtime cannot grant a capability
/// outside it (capset fails with EPERM), so "every capability" means every one in it. Null: no restriction.</param>
public sealed record HostFeatures(bool CgroupV2, bool HugetlbController, bool AppArmorEnabled, int LastCapability,
    ulong OpenFilesHardLimit = OciDefaults.DefaultNofile, ulong? BoundingCapabilities = null)
{
    static readonly Lazy<HostFeatures> Detected = new(Detect);

    /// <summary>This host, probed on first use.</summary>
    public static HostFeatures Current => Detected.Value;

    static HostFeatures Detect()
    {
        // A unified (v2-only) host has cgroup.controllers at the root; hybrid hosts keep it under /sys/fs/cgroup/unified.
        var v2 = File.Exists("/sys/fs/cgroup/cgroup.controllers");
        var hugetlb = v2
            ? ReadOrEmpty("/sys/fs/cgroup/cgroup.controllers").Split(' ', StringSplitOptions.TrimEntries).Contains("hugetlb")
            : Directory.Exists("/sys/fs/cgroup/hugetlb");
        var apparmor = ReadOrEmpty("/sys/module/apparmor/parameters/enabled").StartsWith('Y');
        var lastCap = int.TryParse(ReadOrEmpty("/proc/sys/kernel/cap_last_cap"), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n : OciDefaults.AllCapabilities.Count - 1;
        return new HostFeatures(v2, hugetlb, apparmor, lastCap, ReadOpenFilesHardLimit(), ReadBoundingCapabilities());
    }

    /// <summary>CapBnd of /proc/self/status (hex); null if unreadable.</summary>
    static ulong? ReadBoundingCapabilities()
    {
        var line = ReadOrEmpty("/proc/self/status").Split('\n').FirstOrDefault(l => l.StartsWith("CapBnd:", StringComparison.Ordinal));
        return line != null && ulong.TryParse(line["CapBnd:".Length..].Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var mask)
            ? mask : null;
    }

    /// <summary>The hard "Max open files" of /proc/self/limits ("unlimited" or unreadable counts as no limit).</summary>
    static ulong ReadOpenFilesHardLimit()
    {
        var line = ReadOrEmpty("/proc/self/limits").Split('\n').FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields is { Length: >= 2 } && ulong.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var hard)
            ? hard : ulong.MaxValue;
    }

    static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }
}
