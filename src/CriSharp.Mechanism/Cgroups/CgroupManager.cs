using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>
/// Pod and container cgroups for one cgroup driver (cgroupfs today; systemd would be a second implementation).
/// Paths are in the driver's own syntax: for cgroupfs, absolute paths like <c>/kubepods/burstable/pod&lt;uid&gt;</c>.
/// </summary>
public interface ICgroupManager
{
    /// <summary>True on the unified (v2) hierarchy.</summary>
    bool IsV2 { get; }

    /// <summary>The pod's cgroup: the kubelet's cgroup_parent as given, or a default under /crisharp.</summary>
    string PodCgroupPath(string cgroupParent, string podId);

    /// <summary>The container's cgroup below the pod's: what goes into the OCI spec's cgroupsPath.</summary>
    string ContainerCgroupPath(string podCgroupPath, string containerId);

    /// <summary>Creates the cgroup (in every hierarchy on v1) and applies <paramref name="resources"/> when given.</summary>
    void Create(string path, ResourceSpec? resources);

    /// <summary>Applies <paramref name="resources"/> to an existing cgroup (zero/empty fields are left as they are).</summary>
    void Update(string path, ResourceSpec resources);

    /// <summary>Removes the cgroup and any empty children left below it; fine if it is missing.</summary>
    void Remove(string path);
}

/// <summary>A cgroup file could not be written or a cgroup dir could not be made or removed.</summary>
public sealed class CgroupException(string path, string message, Exception? inner = null)
    : CriSharpException(ErrorKind.Internal, $"cgroup {path}: {message}", inner)
{
    public string Path { get; } = path;
}

/// <summary>Picks the cgroup manager for this host.</summary>
public static class CgroupManager
{
    public const string DefaultRoot = "/sys/fs/cgroup";

    /// <summary>True when <paramref name="root"/> is a cgroup2 (unified) mount.</summary>
    public static bool DetectV2(string root = DefaultRoot) => File.Exists(Path.Combine(root, "cgroup.controllers"));

    /// <summary>The cgroupfs driver for the hierarchy mounted at /sys/fs/cgroup (v2 if unified, else v1 from mountinfo).</summary>
    public static ICgroupManager CreateCgroupfs(string root = DefaultRoot) =>
        DetectV2(root) ? new CgroupfsV2Manager(root) : new CgroupfsV1Manager(CgroupfsV1Manager.DiscoverHierarchies(), CgroupfsV1Manager.DiscoverUnifiedMount());

    /// <summary>Checks and normalises an absolute cgroupfs path: no empty, "." or ".." segments.</summary>
    internal static string NormalizePath(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("empty cgroup path");
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0) throw new ArgumentException("the root cgroup cannot be a pod or container cgroup");
        foreach (var s in segments)
            if (s is "." or ".." || s.Any(c => c == '\0' || char.IsControl(c)))
                throw new ArgumentException($"invalid cgroup path '{path}'");
        return "/" + string.Join('/', segments);
    }
}

/// <summary>Shared parts of the cgroupfs drivers: path naming, file writes, removal.</summary>
public abstract class CgroupfsManagerBase : ICgroupManager
{
    public abstract bool IsV2 { get; }

    public string PodCgroupPath(string cgroupParent, string podId) =>
        string.IsNullOrWhiteSpace(cgroupParent)
            ? CgroupManager.NormalizePath("/crisharp/" + podId)
            : CgroupManager.NormalizePath(cgroupParent.StartsWith('/') ? cgroupParent : "/" + cgroupParent);

    public string ContainerCgroupPath(string podCgroupPath, string containerId) =>
        CgroupManager.NormalizePath(podCgroupPath) + "/crisharp-" + containerId;

    public abstract void Create(string path, ResourceSpec? resources);
    public abstract void Update(string path, ResourceSpec resources);
    public abstract void Remove(string path);

    /// <summary>Writes <paramref name="value"/> in one write(2), as cgroupfs wants.</summary>
    protected static void WriteFile(string file, string value)
    {
        try
        {
            using var fs = new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            fs.Write(System.Text.Encoding.ASCII.GetBytes(value));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CgroupException(file, $"writing '{value}': {e.Message}", e);
        }
    }

    protected static string ReadFile(string file) => File.ReadAllText(file).Trim();

    /// <summary>Removes <paramref name="dir"/> and any sub-cgroups (deepest first), retrying briefly while busy.</summary>
    protected static void RemoveTree(string dir)
    {
        if (!Directory.Exists(dir)) return;
        string[] children;
        try
        {
            children = Directory.GetDirectories(dir);
        }
        catch (DirectoryNotFoundException)
        {
            return; // removed concurrently (a container's cgroup going while its pod's goes)
        }
        foreach (var child in children) RemoveTree(child);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(dir); // rmdir(2): cgroupfs dirs are removed with their control files
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (IOException e) when (attempt < 20)
            {
                // EBUSY while the last processes are still exiting.
                _ = e;
                Thread.Sleep(50);
            }
            catch (IOException e)
            {
                throw new CgroupException(dir, $"cannot remove: {e.Message}", e);
            }
        }
    }

    /// <summary>Each prefix of an absolute cgroup path: "/a/b" → "/a", "/a/b".</summary>
    protected static IEnumerable<string> Prefixes(string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 1; i <= segments.Length; i++) yield return "/" + string.Join('/', segments[..i]);
    }

    /// <summary>The hugetlb page size as cgroupfs names it ("2MB", "1GB"), checked to be a plain token.</summary>
    protected static string HugePageSize(string size)
    {
        if (size.Length == 0 || !size.All(char.IsAsciiLetterOrDigit))
            throw new ArgumentException($"invalid hugepage size '{size}'");
        return size;
    }

    protected static string Join(string root, string path) => root.TrimEnd('/') + path;
}

/// <summary>cgroupfs on the legacy (v1) hierarchies: one directory per controller hierarchy.</summary>
public sealed class CgroupfsV1Manager(IReadOnlyDictionary<string, string> hierarchies, string? unifiedMount = null) : CgroupfsManagerBase
{
    /// <summary>
    /// On hybrid hosts the cgroup2 mount (e.g. /sys/fs/cgroup/unified) next to the v1 hierarchies; the OCI
    /// runtimes create the container's path there too, so removal must clean it as well.
    /// </summary>
    public string? UnifiedMount { get; } = unifiedMount;

    /// <summary>The cgroup2 mount of a hybrid host, or null.</summary>
    public static string? DiscoverUnifiedMount() =>
        Mounts.ReadMountInfo().FirstOrDefault(m => m.FsType == "cgroup2")?.MountPoint;

    /// <summary>Controller (or "name=x") → mount point of its hierarchy, as mounted in this process.</summary>
    public IReadOnlyDictionary<string, string> Hierarchies { get; } = hierarchies;

    public override bool IsV2 => false;

    /// <summary>The v1 hierarchies from /proc/self/mountinfo (controllers sharing a mount map to the same dir).</summary>
    public static IReadOnlyDictionary<string, string> DiscoverHierarchies()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in Mounts.ReadMountInfo())
        {
            if (m.FsType != "cgroup") continue;
            foreach (var opt in m.SuperOptions.Split(','))
            {
                if (opt is "rw" or "ro" or "noprefix" or "clone_children" or "xattr" || opt.StartsWith("release_agent=", StringComparison.Ordinal))
                    continue;
                map.TryAdd(opt, m.MountPoint);
            }
        }
        return map;
    }

    /// <summary>The directory of <paramref name="path"/> in <paramref name="controller"/>'s hierarchy, or null if not mounted.</summary>
    public string? DirOf(string controller, string path) =>
        Hierarchies.TryGetValue(controller, out var mount) ? Join(mount, CgroupManager.NormalizePath(path)) : null;

    public override void Create(string path, ResourceSpec? resources)
    {
        path = CgroupManager.NormalizePath(path);
        // Named hierarchies (name=systemd) carry no resources; runc makes its own dirs there.
        foreach (var mount in Hierarchies.Where(h => !h.Key.StartsWith("name=", StringComparison.Ordinal)).Select(h => h.Value).Distinct())
        {
            var dir = Join(mount, path);
            try
            {
                Directory.CreateDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CgroupException(dir, $"cannot create: {e.Message}", e);
            }
        }
        if (Hierarchies.TryGetValue("cpuset", out var cpusetMount)) InheritCpuset(cpusetMount, path);
        if (resources is not null) Apply(path, resources);
    }

    /// <summary>A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: copy them down from the parent.</summary>
    static void InheritCpuset(string mount, string path)
    {
        var parent = mount.TrimEnd('/');
        foreach (var prefix in Prefixes(path))
        {
            var dir = Join(mount, prefix);
            foreach (var file in new[] { "cpuset.cpus", "cpuset.mems" })
            {
                var own = Path.Combine(dir, file);
                if (File.Exists(own) && ReadFile(own).Length == 0)
                    WriteFile(own, ReadFile(Path.Combine(parent, file)));
            }
            parent = dir;
        }
    }

    public override void Update(string path, ResourceSpec resources)
    {
        path = CgroupManager.NormalizePath(path);
        if (DirOf("memory", path) is { } mem && !Directory.Exists(mem))
            throw new CgroupException(path, "does not exist");
        Apply(path, resources);
    }

    void Apply(string path, ResourceSpec r)
    {
        if (DirOf("cpu", path) is { } cpu)
        {
            if (r.CpuShares > 0) WriteFile(Path.Combine(cpu, "cpu.shares"), Num(r.CpuShares));
            if (r.CpuPeriod > 0) WriteFile(Path.Combine(cpu, "cpu.cfs_period_us"), Num(r.CpuPeriod));
            if (r.CpuQuota != 0) WriteFile(Path.Combine(cpu, "cpu.cfs_quota_us"), Num(r.CpuQuota > 0 ? r.CpuQuota : -1));
        }
        if (DirOf("memory", path) is { } mem)
        {
            var limit = Path.Combine(mem, "memory.limit_in_bytes");
            var memsw = Path.Combine(mem, "memory.memsw.limit_in_bytes");
            bool swap = r.MemorySwapLimitInBytes != 0 && File.Exists(memsw);
            if (r.MemoryLimitInBytes > 0 && swap)
            {
                // memsw must stay >= the memory limit: raise the one that allows the other first.
                try
                {
                    WriteFile(limit, Num(r.MemoryLimitInBytes));
                    WriteFile(memsw, Num(r.MemorySwapLimitInBytes));
                }
                catch (CgroupException)
                {
                    WriteFile(memsw, Num(r.MemorySwapLimitInBytes));
                    WriteFile(limit, Num(r.MemoryLimitInBytes));
                }
            }
            else if (r.MemoryLimitInBytes > 0) WriteFile(limit, Num(r.MemoryLimitInBytes));
            else if (swap) WriteFile(memsw, Num(r.MemorySwapLimitInBytes));
        }
        if (DirOf("cpuset", path) is { } cpuset)
        {
            if (r.CpusetCpus.Length > 0) WriteFile(Path.Combine(cpuset, "cpuset.cpus"), r.CpusetCpus);
            if (r.CpusetMems.Length > 0) WriteFile(Path.Combine(cpuset, "cpuset.mems"), r.CpusetMems);
        }
        if (r.HugepageLimits.Count > 0)
        {
            var hugetlb = DirOf("hugetlb", path) ?? throw new CgroupException(path, "hugepage limits requested but the hugetlb controller is not mounted");
            foreach (var h in r.HugepageLimits)
                WriteFile(Path.Combine(hugetlb, $"hugetlb.{HugePageSize(h.PageSize)}.limit_in_bytes"), h.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        // r.Unified is for the v2 hierarchy only; the kubelet does not send it on v1 hosts.
    }

    public override void Remove(string path)
    {
        path = CgroupManager.NormalizePath(path);
        foreach (var mount in Hierarchies.Values.Append(UnifiedMount).OfType<string>().Distinct()) RemoveTree(Join(mount, path));
    }

    static string Num(long v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

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

    static string Num(long v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
