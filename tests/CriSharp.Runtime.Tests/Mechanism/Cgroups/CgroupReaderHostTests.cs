using System.Diagnostics;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;

namespace CriSharp.Runtime.Tests.Mechanism.Cgroups;

/// <summary>
/// The readers against this host's real hierarchies: a cgroup with a busy shell holding 32 MiB in a
/// variable, in every v1 hierarchy (host v1/hybrid) or in the unified one, and a second cgroup made in
/// the cgroup2 mount itself (a hybrid host's /sys/fs/cgroup/unified, or /sys/fs/cgroup on a v2 host).
/// </summary>
public sealed class CgroupReaderHostTests : IDisposable
{
    readonly ICgroupManager _cgroups = CgroupManager.CreateCgroupfs();
    readonly string _path = "/crisharp-stats-test/" + Guid.NewGuid().ToString("N")[..12];
    readonly List<string> _unifiedDirs = [];
    Process? _busy;

    /// <summary>A shell that waits for a line on stdin (so it is moved before it forks), then fills 32 MiB and spins.</summary>
    Process StartBusyShell()
    {
        var psi = new ProcessStartInfo("sh", ["-c", "read go; x=$(head -c 33554432 /dev/zero | tr '\\0' a); while :; do :; done"])
        {
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        return _busy = Process.Start(psi)!;
    }

    /// <summary>
    /// The CPU time the kernel charged to the shell and the children it waited for, from /proc (ticks of
    /// 1/100 s): what its cgroup must report, whatever share of a core the shell got on a loaded machine.
    /// </summary>
    static double ProcessCpuNanos(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // utime, stime, cutime, cstime are fields 14..17 of stat(5): 11..14 after "pid (comm) ".
        var ticks = fields[11..15].Sum(long.Parse);
        return ticks * 1e7;
    }

    /// <summary>The cgroup's usage matches the process's own accounting (tick rounding + the read gap).</summary>
    static void AssertUsageMatches(ulong usageNanos, double processNanos)
    {
        Assert.True(processNanos > 0, "the busy shell got no CPU time at all");
        Assert.InRange(usageNanos, processNanos * 0.9 - 50e6, processNanos * 1.1 + 100e6);
    }

    static void Join(string dir, int pid) => File.WriteAllText(Path.Combine(dir, "cgroup.procs"), pid.ToString());

    static string UnifiedRoot() => CgroupManager.DetectV2() ? CgroupManager.DefaultRoot
        : CgroupfsV1Manager.DiscoverUnifiedMount() ?? throw new InvalidOperationException("this host has no cgroup2 mount");

    [Fact]
    public async Task The_host_reader_sees_cpu_memory_pids_and_processes_of_a_real_cgroup()
    {
        _cgroups.Create(_path, null);
        var busy = StartBusyShell();
        if (_cgroups is CgroupfsV1Manager v1)
        {
            foreach (var mount in v1.Hierarchies.Where(h => !h.Key.StartsWith("name=", StringComparison.Ordinal)).Select(h => h.Value).Distinct())
                Join(mount + _path, busy.Id);
            if (v1.UnifiedMount is { } unified)
            {
                // As runc does on a hybrid host: the same path in the cgroup2 mount (where PSI lives).
                Directory.CreateDirectory(unified + _path);
                _unifiedDirs.Add(unified + _path);
                Join(unified + _path, busy.Id);
            }
        }
        else
        {
            Join(((CgroupfsV2Manager)_cgroups).DirOf(_path), busy.Id);
        }
        await busy.StandardInput.WriteLineAsync("go");
        await busy.StandardInput.FlushAsync();

        var reader = CgroupStatsReader.ForHost(_cgroups);
        Assert.Equal(_cgroups.IsV2, reader.IsV2);
        await Task.Delay(1500);
        var first = reader.Read(_path)!;
        await Task.Delay(500);
        var second = reader.Read(_path)!;
        var charged = ProcessCpuNanos(busy.Id);

        Assert.True(second.Cpu!.UsageNanos > first.Cpu!.UsageNanos);
        AssertUsageMatches(second.Cpu.UsageNanos, charged);
        Assert.True(second.Cpu.UserNanos > 0);
        var m = second.Memory!;
        Assert.InRange(m.Usage, 32UL << 20, 200UL << 20);
        Assert.InRange(m.WorkingSet, 30UL << 20, m.Usage);
        Assert.True(m.Rss >= 30UL << 20, $"rss {m.Rss}");
        Assert.True(m.PageFaults > 0 && m.HierarchyPageFaults > 0);
        Assert.True(m.MaxUsage >= m.Usage || reader.IsV2 && m.MaxUsage == 0);
        Assert.Equal(0UL, m.Limit);
        Assert.True(second.Pids!.Current >= 1);
        Assert.Contains(busy.Id, reader.Processes(_path));
        Assert.True(reader.Threads(_path) >= 1);
        Assert.NotNull(second.CpuSpec);
        if (File.Exists("/proc/pressure/cpu"))
        {
            Assert.NotNull(second.CpuPressure?.Some);
            Assert.NotNull(second.MemoryPressure);
        }

        var cri = reader.Read(_path, CgroupStatsParts.Cri)!;
        Assert.NotNull(cri.Cpu);
        Assert.Null(cri.Pids);
    }

    [Fact]
    public async Task The_v2_reader_reads_a_cgroup_made_in_the_real_cgroup2_mount()
    {
        var root = UnifiedRoot();
        var dir = root + _path;
        Directory.CreateDirectory(dir);
        _unifiedDirs.Add(dir);
        var busy = StartBusyShell();
        Join(dir, busy.Id);
        await busy.StandardInput.WriteLineAsync("go");
        await busy.StandardInput.FlushAsync();

        var reader = new CgroupV2StatsReader(root);
        await Task.Delay(1000);
        var first = reader.Read(_path)!;
        await Task.Delay(500);
        var second = reader.Read(_path)!;
        var charged = ProcessCpuNanos(busy.Id);
        // cpu.stat is a core cgroup2 file: present even where the cpu controller stays with v1.
        Assert.True(second.Cpu!.UsageNanos > first.Cpu!.UsageNanos);
        AssertUsageMatches(second.Cpu.UsageNanos, charged);
        Assert.True(second.Cpu.UserNanos > 0);
        Assert.Equal([busy.Id], reader.Processes(_path));
        Assert.True(reader.Threads(_path) >= 1);
        if (File.Exists("/proc/pressure/cpu")) Assert.NotNull(second.CpuPressure?.Some);
        // Memory and pids only where those controllers are enabled in the cgroup2 hierarchy.
        var controllers = File.ReadAllText(Path.Combine(root, "cgroup.subtree_control"));
        if (controllers.Contains("memory")) Assert.InRange(second.Memory!.WorkingSet, 30UL << 20, 200UL << 20);
        else Assert.Null(second.Memory);
        Assert.Null(reader.Read(_path + "/missing"));
    }

    public void Dispose()
    {
        if (_busy is { HasExited: false })
        {
            _busy.Kill(entireProcessTree: true);
            _busy.WaitForExit();
        }
        _busy?.Dispose();
        foreach (var d in _unifiedDirs)
            for (int i = 0; i < 50 && Directory.Exists(d); i++)
            {
                try { Directory.Delete(d); }
                catch (IOException) { Thread.Sleep(50); }
            }
        for (int i = 0; i < 50; i++)
        {
            try
            {
                _cgroups.Remove(_path);
                _cgroups.Remove("/crisharp-stats-test");
                break;
            }
            catch (CgroupException)
            {
                Thread.Sleep(50);
            }
        }
        foreach (var d in _unifiedDirs) try { Directory.Delete(Path.GetDirectoryName(d)!); } catch (IOException) { }
    }
}
