using System.Globalization;

namespace CriSharp.Mechanism;

/// <summary>
/// Every fact about this host the engine decides on, probed once (<see cref="Current"/>) and nowhere else: cgroup
/// version and controllers, AppArmor, the kernel's capabilities and this process's bounding set, its open-file limit
/// and its own oom_score_adj. Tests construct one to pin the facts.
/// </summary>
/// <param name="OpenFilesHardLimit">This process's RLIMIT_NOFILE hard limit: without CAP_SYS_RESOURCE the runtime cannot grant more.</param>
/// <param name="BoundingCapabilities">This process's capability bounding set (CapBnd): a runtime cannot grant a capability
/// outside it (capset fails with EPERM), so "every capability" means every one in it. Null: no restriction.</param>
public sealed record HostFeatures(bool CgroupV2, bool HugetlbController, bool AppArmorEnabled, int LastCapability,
    ulong OpenFilesHardLimit = ulong.MaxValue, ulong? BoundingCapabilities = null, int OwnOomScoreAdj = 0,
    IReadOnlyList<string>? HugePageSizes = null)
{
    /// <summary>The highest capability number Linux defines today (CAP_CHECKPOINT_RESTORE), for a kernel that does not say.</summary>
    public const int LastKnownCapability = 40;

    /// <summary>CAP_SYS_RESOURCE, which raising limits and lowering oom_score_adj need.</summary>
    public const int CapSysResource = 24;

    /// <summary>Whether this process holds <paramref name="capability"/> in its bounding set (unknown set: yes).</summary>
    public bool HasBoundingCapability(int capability) =>
        BoundingCapabilities is not { } set || (set & (1UL << capability)) != 0;

    static readonly Lazy<HostFeatures> Detected = new(Detect);

    /// <summary>This host, probed on first use.</summary>
    public static HostFeatures Current => Detected.Value;

    static HostFeatures Detect()
    {
        var v2 = IsUnifiedCgroupRoot(CgroupRoot);
        var hugetlb = v2
            ? ReadOrEmpty(Path.Combine(CgroupRoot, "cgroup.controllers")).Split(' ', StringSplitOptions.TrimEntries).Contains("hugetlb")
            : Directory.Exists(Path.Combine(CgroupRoot, "hugetlb"));
        var apparmor = ReadOrEmpty("/sys/module/apparmor/parameters/enabled").StartsWith('Y');
        var lastCap = int.TryParse(ReadOrEmpty("/proc/sys/kernel/cap_last_cap"), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n : LastKnownCapability;
        return new HostFeatures(v2, hugetlb, apparmor, lastCap, ReadOpenFilesHardLimit(), ReadBoundingCapabilities(), ReadOwnOomScoreAdj(),
            ReadHugePageSizes());
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

    /// <summary>Where the host's cgroup hierarchies are mounted.</summary>
    public const string CgroupRoot = "/sys/fs/cgroup";

    /// <summary>
    /// A cgroup2 (unified) mount has cgroup.controllers at its root: a v2-only host at /sys/fs/cgroup, a hybrid host
    /// only under /sys/fs/cgroup/unified.
    /// </summary>
    public static bool IsUnifiedCgroupRoot(string root) => File.Exists(Path.Combine(root, "cgroup.controllers"));

    /// <summary>The huge page sizes the kernel offers, as cgroupfs names them ("2MB", "1GB"), in order.</summary>
    static string[] ReadHugePageSizes() => Directory.Exists("/sys/kernel/mm/hugepages")
        ? [.. Directory.EnumerateDirectories("/sys/kernel/mm/hugepages").Select(HugePageSizeName).OfType<string>().Order(StringComparer.Ordinal)]
        : [];

    /// <summary>"hugepages-2048kB" (sysfs) → "2MB", as cgroupfs names page sizes.</summary>
    public static string? HugePageSizeName(string sysfsDir)
    {
        var name = Path.GetFileName(sysfsDir);
        if (!name.StartsWith("hugepages-", StringComparison.Ordinal) || !name.EndsWith("kB", StringComparison.Ordinal)) return null;
        if (!ulong.TryParse(name.AsSpan(10, name.Length - 12), NumberStyles.None, CultureInfo.InvariantCulture, out var kb)) return null;
        return kb >= 1024 * 1024 ? $"{kb / (1024 * 1024)}GB" : kb >= 1024 ? $"{kb / 1024}MB" : $"{kb}KB";
    }

    static int ReadOwnOomScoreAdj() =>
        int.TryParse(ReadOrEmpty("/proc/self/oom_score_adj"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var own) ? own : 0;

    static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }
}
