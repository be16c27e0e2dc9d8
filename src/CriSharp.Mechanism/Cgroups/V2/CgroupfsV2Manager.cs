using CriSharp.Model;

namespace CriSharp.Mechanism.Cgroups.V2;

/// <summary>cgroupfs on the unified (v2) hierarchy.</summary>
public sealed class CgroupfsV2Manager(string root = CgroupManager.DefaultRoot) : CgroupfsManagerBase
{
    static readonly string[] WantedControllers = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"];

    public string Root { get; } = root;
    public override bool IsV2 => true;

    public string DirOf(string path) => Join(Root, CgroupManager.NormalizePath(path));

    public override void Create(string path, ResourceSpec? resources)
    {
        path = CgroupManager.NormalizePath(path);
        var parent = Root.TrimEnd('/');
        foreach (var prefix in Prefixes(path))
        {
            // Controllers must be enabled in each ancestor's subtree_control before a child can use them.
            EnableControllers(parent);
            var dir = Join(Root, prefix);
            try
            {
                Directory.CreateDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CgroupException(dir, $"cannot create: {e.Message}", e);
            }
            parent = dir;
        }
        if (resources is not null) Apply(DirOf(path), resources);
    }

    public override void Update(string path, ResourceSpec resources)
    {
        var dir = DirOf(path);
        if (!Directory.Exists(dir)) throw new CgroupException(path, "does not exist");
        Apply(dir, resources);
    }

    static void EnableControllers(string dir)
    {
        var available = Path.Combine(dir, "cgroup.controllers");
        var subtree = Path.Combine(dir, "cgroup.subtree_control");
        if (!File.Exists(available) || !File.Exists(subtree)) return;
        var have = ReadFile(available).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var on = ReadFile(subtree).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        foreach (var c in WantedControllers)
        {
            if (!have.Contains(c) || on.Contains(c)) continue;
            // One at a time: a controller the kernel refuses here (e.g. a threaded subtree) must not block the rest;
            // writing a limit for it later fails with a clear error.
            try { WriteFile(subtree, "+" + c); } catch (CgroupException) { }
        }
    }

    static void Apply(string dir, ResourceSpec r)
    {
        if (r.CpuShares > 0) WriteFile(Path.Combine(dir, "cpu.weight"), Num(SharesToWeight(r.CpuShares)));
        if (r.CpuQuota != 0 || r.CpuPeriod > 0)
        {
            var period = r.CpuPeriod > 0 ? r.CpuPeriod : 100_000;
            WriteFile(Path.Combine(dir, "cpu.max"), (r.CpuQuota > 0 ? Num(r.CpuQuota) : "max") + " " + Num(period));
        }
        if (r.MemoryLimitInBytes > 0) WriteFile(Path.Combine(dir, "memory.max"), Num(r.MemoryLimitInBytes));
        if (r.MemorySwapLimitInBytes != 0 && File.Exists(Path.Combine(dir, "memory.swap.max")))
        {
            // CRI gives memory+swap (v1 semantics); v2 limits swap alone.
            var swap = r.MemorySwapLimitInBytes < 0 ? "max"
                : Num(Math.Max(0, r.MemorySwapLimitInBytes - Math.Max(0, r.MemoryLimitInBytes)));
            WriteFile(Path.Combine(dir, "memory.swap.max"), swap);
        }
        if (r.CpusetCpus.Length > 0) WriteFile(Path.Combine(dir, "cpuset.cpus"), r.CpusetCpus);
        if (r.CpusetMems.Length > 0) WriteFile(Path.Combine(dir, "cpuset.mems"), r.CpusetMems);
        foreach (var h in r.HugepageLimits)
            WriteFile(Path.Combine(dir, $"hugetlb.{HugePageSize(h.PageSize)}.max"), h.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (key, value) in r.Unified)
        {
            if (key.Length == 0 || key.Contains('/') || key.StartsWith("cgroup.", StringComparison.Ordinal) && key != "cgroup.max.depth" && key != "cgroup.max.descendants"
                || key is "." or "..")
                throw new CgroupException(dir, $"unified key '{key}' is not a settable cgroup file");
            WriteFile(Path.Combine(dir, key), value);
        }
    }

    /// <summary>runc's mapping of cpu.shares [2, 262144] onto cpu.weight [1, 10000].</summary>
    public static long SharesToWeight(long shares) =>
        shares <= 0 ? 100 : 1 + (Math.Clamp(shares, 2, 262144) - 2) * 9999 / 262142;

    public override void Remove(string path) => RemoveTree(DirOf(path));

    /// <summary>The v2 reader over <see cref="Root"/>.</summary>
    public override CgroupStatsReader CreateStatsReader() => new CgroupV2StatsReader(Root);

    /// <summary>The count in the cgroup's memory.events.</summary>
    public override long OomKillCount(string cgroupPath) => CgroupV2OomCounter.Count(DirOf(cgroupPath));

    static string Num(long v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
