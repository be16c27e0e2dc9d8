using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Mechanism.Cgroups;

/// <summary>
/// The v1 and v2 readers over directories laid out like cgroupfs, with file contents taken from real
/// kernels: every field each reader maps, including files this host's kernel does not have (v2 memory).
/// </summary>
public class CgroupReaderFixtureTests
{
    const string Cgroup = "/kubepods/pod1/ctr1";

    static void Write(string dir, string file, string content)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, file), content);
    }

    [Fact]
    public void V2_reader_maps_every_file()
    {
        using var tmp = new TempDir();
        var root = tmp.Sub("unified");
        var d = root + Cgroup;
        Write(d, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 3\nthrottled_usec 1500000\nnr_bursts 0\nburst_usec 0\n");
        Write(d, "cpu.max", "20000 100000\n");
        Write(d, "cpu.weight", "39\n");
        Write(d, "memory.current", "104857600\n");
        Write(d, "memory.stat", "anon 83886080\nfile 20971520\nkernel 1048576\nkernel_stack 16384\nfile_mapped 4096\ninactive_file 10485760\nactive_file 10485760\npgfault 1000\npgmajfault 7\n");
        Write(d, "memory.max", "209715200\n");
        Write(d, "memory.swap.current", "1048576\n");
        Write(d, "memory.swap.max", "max\n");
        Write(d, "memory.peak", "157286400\n");
        Write(d, "memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n");
        Write(d, "memory.low", "0\n");
        Write(d, "pids.current", "4\n");
        Write(d, "pids.max", "max\n");
        Write(d, "io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
        Write(d, "hugetlb.2MB.current", "2097152\n");
        Write(d, "cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=3000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n");
        Write(d, "memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=20\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=10\n");
        Write(d, "io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=200\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=100\n");
        Write(d, "cgroup.procs", "100\n101\n");
        Write(d, "cgroup.threads", "100\n101\n102\n");

        var reader = new CgroupV2StatsReader(root, ["2MB"]);
        var s = reader.Read(Cgroup)!;
        Assert.Equal(new CpuStats(2_500_000_000, 2_000_000_000, 500_000_000, 40, 3, 1_500_000_000), s.Cpu);
        Assert.Equal(20000UL, s.CpuSpec!.QuotaMicros);
        Assert.Equal(100000UL, s.CpuSpec.PeriodMicros);
        Assert.InRange(s.CpuSpec.Shares, 990UL, 1050UL); // 39 ↔ 1024 through runc's lossy mapping
        var m = s.Memory!;
        Assert.Equal(104857600UL, m.Usage);
        Assert.Equal(104857600UL - 10485760, m.WorkingSet);
        Assert.Equal(83886080UL, m.Rss);
        Assert.Equal(20971520UL, m.Cache);
        Assert.Equal(4096UL, m.MappedFile);
        Assert.Equal(1000UL, m.PageFaults);
        Assert.Equal(7UL, m.MajorPageFaults);
        Assert.Equal(1000UL, m.HierarchyPageFaults);
        Assert.Equal(209715200UL, m.Limit);
        Assert.Equal(1048576UL, m.Swap);
        Assert.Equal(0UL, m.SwapAvailable); // swap.max is "max"
        Assert.Equal(157286400UL, m.MaxUsage);
        Assert.Equal(5UL, m.Failcnt);
        Assert.Equal(1048576UL, m.KernelUsage);
        Assert.Equal(1UL, m.OomKills);
        Assert.Equal(0UL, m.SwapLimit);
        Assert.Equal(new PidsStats(4, 0), s.Pids);
        Assert.Equal([new BlockDeviceIo(8, 0, 4096, 8192, 1, 2)], s.BlockIo);
        Assert.Equal([new HugetlbUsage("2MB", 2097152, 0)], s.Hugetlb);
        Assert.Equal(3000000UL, s.CpuPressure!.Some!.TotalMicros);
        Assert.Equal(1000000UL, s.CpuPressure.Full!.TotalMicros);
        Assert.Equal(10UL, s.MemoryPressure!.Full!.TotalMicros);
        Assert.Equal(200UL, s.IoPressure!.Some!.TotalMicros);
        Assert.Equal([100, 101], reader.Processes(Cgroup));
        Assert.Equal(3, reader.Threads(Cgroup));

        // Only what was asked for.
        var cri = reader.Read(Cgroup, CgroupStatsParts.Cri)!;
        Assert.NotNull(cri.Cpu);
        Assert.NotNull(cri.Memory);
        Assert.Equal(0UL, cri.Memory!.MaxUsage);
        Assert.Null(cri.Pids);
        Assert.Null(cri.CpuSpec);

        Assert.Null(reader.Read("/kubepods/gone"));
    }

    [Fact]
    public void V2_reader_without_memory_controller_reports_cpu_only()
    {
        using var tmp = new TempDir();
        var root = tmp.Sub("unified");
        Write(root + Cgroup, "cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n");
        var s = new CgroupV2StatsReader(root, []).Read(Cgroup)!;
        Assert.Equal(10_000UL, s.Cpu!.UsageNanos);
        Assert.Null(s.Memory);
        Assert.Null(s.Pids);
        Assert.Null(s.CpuPressure);
    }

    [Fact]
    public void V1_reader_maps_every_file()
    {
        using var tmp = new TempDir();
        var h = new Dictionary<string, string>
        {
            ["cpu"] = tmp.Sub("cpu,cpuacct"), ["cpuacct"] = tmp.Path + "/cpu,cpuacct", ["memory"] = tmp.Sub("memory"),
            ["pids"] = tmp.Sub("pids"), ["blkio"] = tmp.Sub("blkio"), ["hugetlb"] = tmp.Sub("hugetlb"),
        };
        var unified = tmp.Sub("unified");
        // Root files the reader probes once.
        Write(h["cpuacct"], "cpuacct.usage_user", "0\n");
        Write(h["memory"], "memory.memsw.usage_in_bytes", "0\n");
        Write(h["hugetlb"], "hugetlb.2MB.usage_in_bytes", "0\n");
        Write(unified, "cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");

        var cpu = h["cpu"] + Cgroup;
        Write(cpu, "cpuacct.usage", "3000000000\n");
        Write(cpu, "cpuacct.usage_user", "2000000000\n");
        Write(cpu, "cpuacct.usage_sys", "1000000000\n");
        Write(cpu, "cpu.stat", "nr_periods 50\nnr_throttled 5\nthrottled_time 250000000\n");
        Write(cpu, "cpu.cfs_period_us", "100000\n");
        Write(cpu, "cpu.cfs_quota_us", "-1\n");
        Write(cpu, "cpu.shares", "1024\n");
        var mem = h["memory"] + Cgroup;
        Write(mem, "memory.usage_in_bytes", "110000000\n");
        Write(mem, "memory.stat", "cache 5\nrss 6\npgfault 300\npgmajfault 2\ntotal_cache 10000000\ntotal_rss 90000000\ntotal_mapped_file 8192\n"
                                  + "total_inactive_file 6000000\ntotal_active_file 4000000\ntotal_pgfault 400\ntotal_pgmajfault 3\n");
        Write(mem, "memory.limit_in_bytes", "9223372036854771712\n");
        Write(mem, "memory.memsw.usage_in_bytes", "112000000\n");
        Write(mem, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
        Write(mem, "memory.max_usage_in_bytes", "120000000\n");
        Write(mem, "memory.failcnt", "0\n");
        Write(mem, "memory.kmem.usage_in_bytes", "2000000\n");
        Write(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        Write(mem, "memory.soft_limit_in_bytes", "9223372036854771712\n");
        Write(mem, "cgroup.procs", "200\n");
        Write(mem, "tasks", "200\n201\n");
        Write(h["pids"] + Cgroup, "pids.current", "2\n");
        Write(h["pids"] + Cgroup, "pids.max", "1024\n");
        Write(h["blkio"] + Cgroup, "blkio.throttle.io_service_bytes_recursive", "8:0 Read 10\n8:0 Write 20\nTotal 30\n");
        Write(h["blkio"] + Cgroup, "blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n");
        Write(h["hugetlb"] + Cgroup, "hugetlb.2MB.usage_in_bytes", "0\n");
        Write(h["hugetlb"] + Cgroup, "hugetlb.2MB.max_usage_in_bytes", "4194304\n");
        Write(unified + Cgroup, "cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=21\n");
        Write(unified + Cgroup, "io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");

        var reader = new CgroupV1StatsReader(h, unified);
        var s = reader.Read(Cgroup)!;
        Assert.Equal(new CpuStats(3_000_000_000, 2_000_000_000, 1_000_000_000, 50, 5, 250_000_000), s.Cpu);
        Assert.Equal(new CpuSpec(100000, 0, 1024), s.CpuSpec);
        var m = s.Memory!;
        Assert.Equal(110000000UL, m.Usage);
        Assert.Equal(104000000UL, m.WorkingSet);
        Assert.Equal(90000000UL, m.Rss);
        Assert.Equal(10000000UL, m.Cache);
        Assert.Equal(8192UL, m.MappedFile);
        Assert.Equal(300UL, m.PageFaults);
        Assert.Equal(2UL, m.MajorPageFaults);
        Assert.Equal(400UL, m.HierarchyPageFaults);
        Assert.Equal(3UL, m.HierarchyMajorPageFaults);
        Assert.Equal(0UL, m.Limit);
        Assert.Equal(2000000UL, m.Swap);
        Assert.Equal(120000000UL, m.MaxUsage);
        Assert.Equal(2000000UL, m.KernelUsage);
        Assert.Equal(2UL, m.OomKills);
        Assert.Equal(0UL, m.Reservation);
        Assert.Equal(new PidsStats(2, 1024), s.Pids);
        Assert.Equal([new BlockDeviceIo(8, 0, 10, 20, 1, 2)], s.BlockIo);
        Assert.Equal([new HugetlbUsage("2MB", 0, 4194304)], s.Hugetlb);
        Assert.Equal(42UL, s.CpuPressure!.Some!.TotalMicros);
        Assert.Equal(21UL, s.CpuPressure.Full!.TotalMicros);
        Assert.Null(s.MemoryPressure);
        Assert.Equal(7UL, s.IoPressure!.Some!.TotalMicros);
        Assert.Equal([200], reader.Processes(Cgroup));
        Assert.Equal(2, reader.Threads(Cgroup));
        Assert.Null(reader.Read("/kubepods/gone"));
    }

    [Fact]
    public void V1_reader_falls_back_to_cpuacct_stat_ticks()
    {
        using var tmp = new TempDir();
        var h = new Dictionary<string, string> { ["cpuacct"] = tmp.Sub("cpuacct") };
        Write(h["cpuacct"] + Cgroup, "cpuacct.usage", "5\n");
        Write(h["cpuacct"] + Cgroup, "cpuacct.stat", "user 150\nsystem 50\n");
        var s = new CgroupV1StatsReader(h, null).Read(Cgroup)!;
        Assert.Equal(1_500_000_000UL, s.Cpu!.UserNanos);
        Assert.Equal(500_000_000UL, s.Cpu.SystemNanos);
        Assert.Null(s.Memory);
    }
}
