using CriSharp.Mechanism;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Runtime.Stats;

namespace CriSharp.Runtime.Tests.Mechanism.Cgroups;

/// <summary>The cgroupfs/procfs text parsers, on samples copied from real kernels.</summary>
public class CgroupParserTests
{
    [Fact]
    public void Numbers_and_limits()
    {
        Assert.Equal(42UL, CgroupFiles.ParseULong("42\n"));
        Assert.Equal(ulong.MaxValue, CgroupFiles.ParseULong("max\n"));
        Assert.Equal(ulong.MaxValue, CgroupFiles.ParseULong("-1\n"));
        Assert.Null(CgroupFiles.ParseULong("garbage"));
        Assert.Equal(0UL, CgroupFiles.Limit(9223372036854771712)); // v1 "unlimited"
        Assert.Equal(0UL, CgroupFiles.Limit(ulong.MaxValue));
        Assert.Equal(0UL, CgroupFiles.Limit(null));
        Assert.Equal(64UL << 20, CgroupFiles.Limit(64UL << 20));
    }

    [Fact]
    public void Keyed_files()
    {
        var m = CgroupFiles.ParseKeyed("cache 1234\nrss 5678\ntotal_inactive_file 99\nbogus\n\nhierarchical_memory_limit 9223372036854771712\n");
        Assert.Equal(1234UL, m["cache"]);
        Assert.Equal(5678UL, m["rss"]);
        Assert.Equal(99UL, m["total_inactive_file"]);
        Assert.Equal(9223372036854771712UL, m["hierarchical_memory_limit"]);
        Assert.False(m.ContainsKey("bogus"));
        Assert.Empty(CgroupFiles.ParseKeyed(null));
    }

    [Fact]
    public void Pressure_with_and_without_full()
    {
        var p = CgroupFiles.ParsePressure("some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=789\n")!;
        Assert.Equal(1.5, p.Some!.Avg10);
        Assert.Equal(0.25, p.Some.Avg60);
        Assert.Equal(123456UL, p.Some.TotalMicros);
        Assert.Equal(789UL, p.Full!.TotalMicros);
        var cpuOldKernel = CgroupFiles.ParsePressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n")!;
        Assert.Null(cpuOldKernel.Full);
        Assert.Equal(5UL, cpuOldKernel.Some!.TotalMicros);
        Assert.Null(CgroupFiles.ParsePressure(""));
        Assert.Null(CgroupFiles.ParsePressure(null));
    }

    [Fact]
    public void Blkio_v1_recursive_files()
    {
        const string bytes = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 8192\n8:0 Async 4096\n8:0 Discard 0\n8:0 Total 12288\n"
                             + "254:0 Read 100\n254:0 Write 0\nTotal 12388\n";
        const string ops = "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\n254:0 Read 7\nTotal 10\n";
        var io = CgroupFiles.ParseBlkioV1(bytes, ops);
        Assert.Equal(2, io.Count);
        Assert.Equal(new BlockDeviceIo(8, 0, 4096, 8192, 1, 2), io[0]);
        Assert.Equal(new BlockDeviceIo(254, 0, 100, 0, 7, 0), io[1]);
        Assert.Empty(CgroupFiles.ParseBlkioV1(null, null));
    }

    [Fact]
    public void Io_stat_v2()
    {
        var io = CgroupFiles.ParseIoStatV2("8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n253:0 rbytes=5 wbytes=6 rios=7 wios=8\n");
        Assert.Equal(new BlockDeviceIo(8, 16, 1459200, 314773504, 192, 353), io[0]);
        Assert.Equal(new BlockDeviceIo(253, 0, 5, 6, 7, 8), io[1]);
    }

    [Fact]
    public void Cpu_max_and_weight()
    {
        Assert.Equal((0UL, 100000UL), CgroupFiles.ParseCpuMax("max 100000\n"));
        Assert.Equal((20000UL, 100000UL), CgroupFiles.ParseCpuMax("20000 100000\n"));
        // cAdvisor reports v2 shares by inverting runc's shares → weight mapping.
        foreach (var shares in new long[] { 2, 1024, 262144 })
        {
            var back = CgroupFiles.WeightToShares((ulong)CriSharp.Mechanism.Cgroups.V2.CgroupfsV2Manager.SharesToWeight(shares));
            Assert.InRange((long)back, shares - 30, shares + 30);
        }
    }

    [Fact]
    public void Pids_and_lines()
    {
        Assert.Equal([12, 345], CgroupFiles.ParsePids("12\n345\n\n"));
        Assert.Equal(3, CgroupFiles.CountLines("1\n2\n3\n"));
        Assert.Equal(0, CgroupFiles.CountLines(""));
    }

    [Fact]
    public void Net_dev_skips_headers_and_loopback()
    {
        const string text = """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
              eth0:  123456     789    1    2    0     0          0         0    65432     321    3    4    0     0       0          0
            net1: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0
            """;
        var list = NetDev.Parse(text);
        Assert.Equal(2, list.Count);
        Assert.Equal(new InterfaceStats("eth0", 123456, 789, 1, 2, 65432, 321, 3, 4), list[0]);
        Assert.Equal("net1", list[1].Name);
        Assert.Equal(20UL, list[1].TxBytes);
        Assert.Equal("eth0", new NetworkStats(0, list).Default!.Name);
    }

    [Fact]
    public void Hugepage_size_names()
    {
        Assert.Equal("2MB", HostFeatures.HugePageSizeName("/sys/kernel/mm/hugepages/hugepages-2048kB"));
        Assert.Equal("1GB", HostFeatures.HugePageSizeName("hugepages-1048576kB"));
        Assert.Equal("64KB", HostFeatures.HugePageSizeName("hugepages-64kB"));
        Assert.Null(HostFeatures.HugePageSizeName("something"));
    }

    [Fact]
    public void Reading_a_missing_file_or_cgroup_gives_null()
    {
        Assert.Null(CgroupFiles.Read("/sys/fs/cgroup/no-such-cgroup-" + Guid.NewGuid().ToString("N") + "/cpu.stat"));
        Assert.Null(CgroupFiles.ReadULong("/nonexistent/file"));
        Assert.NotNull(CgroupFiles.Read("/proc/self/status"));
    }
}
