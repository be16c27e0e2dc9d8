using CriSharp.Mechanism.Cgroups;
using CriSharp.Model;
using CriSharp.Runtime.Stats;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Stats;

public class CadvisorMetricsTests
{
    /// <summary>cri-tools v1.36 pkg/validate: expectedMetricDescriptorNames.</summary>
    static readonly string[] CritestNames =
    [
        "container_blkio_device_usage_total", "container_cpu_cfs_periods_total", "container_cpu_cfs_throttled_periods_total",
        "container_cpu_cfs_throttled_seconds_total", "container_cpu_system_seconds_total", "container_cpu_usage_seconds_total",
        "container_cpu_user_seconds_total", "container_file_descriptors", "container_fs_inodes_free", "container_fs_inodes_total",
        "container_fs_limit_bytes", "container_fs_reads_bytes_total", "container_fs_reads_total", "container_fs_usage_bytes",
        "container_fs_writes_bytes_total", "container_fs_writes_total", "container_hugetlb_max_usage_bytes", "container_hugetlb_usage_bytes",
        "container_last_seen", "container_memory_cache", "container_memory_failcnt", "container_memory_failures_total",
        "container_memory_kernel_usage", "container_memory_mapped_file", "container_memory_max_usage_bytes", "container_memory_rss",
        "container_memory_swap", "container_memory_usage_bytes", "container_memory_working_set_bytes", "container_network_receive_bytes_total",
        "container_network_receive_errors_total", "container_network_receive_packets_dropped_total", "container_network_receive_packets_total",
        "container_network_transmit_bytes_total", "container_network_transmit_errors_total", "container_network_transmit_packets_dropped_total",
        "container_network_transmit_packets_total", "container_oom_events_total", "container_pressure_cpu_stalled_seconds_total",
        "container_pressure_cpu_waiting_seconds_total", "container_pressure_io_stalled_seconds_total", "container_pressure_io_waiting_seconds_total",
        "container_pressure_memory_stalled_seconds_total", "container_pressure_memory_waiting_seconds_total", "container_processes",
        "container_sockets", "container_spec_cpu_period", "container_spec_cpu_quota", "container_spec_cpu_shares",
        "container_spec_memory_limit_bytes", "container_spec_memory_reservation_limit_bytes", "container_spec_memory_swap_limit_bytes",
        "container_start_time_seconds", "container_threads", "container_threads_max", "container_ulimits_soft",
    ];

    [Fact]
    public void Descriptors_are_the_56_critest_names_with_help_and_labels()
    {
        Assert.Equal(56, CritestNames.Length);
        Assert.Equal(CritestNames.Order(StringComparer.Ordinal), CadvisorMetrics.Descriptors.Select(d => d.Name).Order(StringComparer.Ordinal));
        foreach (var d in CadvisorMetrics.Descriptors)
        {
            Assert.NotEmpty(d.Help);
            Assert.Equal(["id", "name", "image"], d.LabelKeys.Take(3));
            Assert.Equal(d.LabelKeys.Count, d.LabelKeys.Distinct().Count());
            // The kubelet appends these itself: repeating them would make its descriptor invalid.
            Assert.DoesNotContain("namespace", d.LabelKeys);
            Assert.DoesNotContain("pod", d.LabelKeys);
            Assert.DoesNotContain("container", d.LabelKeys);
            var counter = d.Name.EndsWith("_total", StringComparison.Ordinal) && d.Name != "container_fs_inodes_total" || d.Name == "container_memory_failcnt";
            Assert.True(counter == (d.Kind == MetricKind.Counter), d.Name);
        }
        Assert.Equal(["id", "name", "image", "interface"], CadvisorMetrics.Descriptors.Single(d => d.Name == "container_network_receive_bytes_total").LabelKeys);
        Assert.Equal(["id", "name", "image", "cpu"], CadvisorMetrics.Descriptors.Single(d => d.Name == "container_cpu_usage_seconds_total").LabelKeys);
    }

    static ContainerRecord Container() => new()
    {
        Id = "c0ffee",
        SandboxId = "p0d",
        Spec = new ContainerSpec { Name = "app", Image = "busybox:latest" },
        ImageId = "sha256:abc",
        RuntimeHandler = "runc",
        BundleDir = "/nonexistent/bundle",
        LayerDir = "/nonexistent/layer",
        CgroupPath = "/kubepods/p0d/crisharp-c0ffee",
        State = ContainerState.Running,
        CreatedAt = 1_700_000_000_000_000_000,
        StartedAt = 1_700_000_001_000_000_000,
    };

    static CgroupStats FullStats() => new()
    {
        Timestamp = 1_700_000_100_000_000_000,
        Cpu = new CpuStats(12_500_000_000, 10_000_000_000, 2_500_000_000, 100, 10, 3_000_000_000),
        CpuSpec = new CpuSpec(100000, 20000, 1024),
        Memory = new MemoryStats { Usage = 100, WorkingSet = 90, Rss = 80, Cache = 20, PageFaults = 5, MajorPageFaults = 1, HierarchyPageFaults = 6, HierarchyMajorPageFaults = 2, OomKills = 1, Limit = 64 << 20 },
        Pids = new PidsStats(3, 100),
        BlockIo = [new BlockDeviceIo(8, 0, 4096, 8192, 1, 2)],
        Hugetlb = [new HugetlbUsage("2MB", 0, 0)],
        CpuPressure = new PressureStats(new PressureLine(0, 0, 0, 5_000_000), new PressureLine(0, 0, 0, 2_000_000)),
        MemoryPressure = new PressureStats(new PressureLine(0, 0, 0, 0), new PressureLine(0, 0, 0, 0)),
        IoPressure = new PressureStats(new PressureLine(0, 0, 0, 0), new PressureLine(0, 0, 0, 0)),
    };

    [Fact]
    public void A_container_with_full_stats_gets_every_non_network_metric_with_matching_label_counts()
    {
        var fs = new LayerFileSystem("/dev/vda1", 1000, 100, 50);
        var layer = new LayerUsage("/x/upper", 4096, 3, 1);
        var metrics = CadvisorMetrics.ForContainer(Container(), FullStats(), layer, fs, new ProcessSnapshot(2, 3, 10, 1, 1024), 1_700_000_200_000_000_000);
        var descriptors = CadvisorMetrics.Descriptors.ToDictionary(d => d.Name);
        foreach (var m in metrics)
        {
            Assert.Equal(descriptors[m.Name].LabelKeys.Count, m.LabelValues.Count);
            Assert.Equal(descriptors[m.Name].Kind, m.Kind);
            Assert.Equal(["/kubepods/p0d/crisharp-c0ffee", "c0ffee", "busybox:latest"], m.LabelValues.Take(3));
        }
        var names = metrics.Select(m => m.Name).ToHashSet();
        Assert.Equal(descriptors.Keys.Where(n => !n.StartsWith("container_network_", StringComparison.Ordinal)).Order(), names.Order());

        ulong V(string name, params string[] extra) => metrics.Single(m => m.Name == name && m.LabelValues.Skip(3).SequenceEqual(extra)).Value;
        Assert.Equal(12UL, V("container_cpu_usage_seconds_total", "total"));
        Assert.Equal(10UL, V("container_cpu_user_seconds_total"));
        Assert.Equal(3UL, V("container_cpu_cfs_throttled_seconds_total"));
        Assert.Equal(90UL, V("container_memory_working_set_bytes"));
        Assert.Equal(1UL, V("container_memory_failures_total", "pgmajfault", "container"));
        Assert.Equal(6UL, V("container_memory_failures_total", "pgfault", "hierarchy"));
        Assert.Equal(4096UL, V("container_fs_usage_bytes", "/dev/vda1"));
        Assert.Equal(50UL, V("container_fs_inodes_free", "/dev/vda1"));
        Assert.Equal(8192UL, V("container_blkio_device_usage_total", CadvisorMetrics.DeviceName(8, 0), "8", "0", "Write"));
        Assert.Equal(5UL, V("container_pressure_cpu_waiting_seconds_total"));
        Assert.Equal(2UL, V("container_pressure_cpu_stalled_seconds_total"));
        Assert.Equal(1_700_000_001UL, V("container_start_time_seconds"));
        Assert.Equal(1_700_000_200UL, V("container_last_seen"));
        Assert.Equal(2UL, V("container_processes"));
        Assert.Equal(100UL, V("container_threads_max"));
        Assert.Equal(1024UL, V("container_ulimits_soft", "max_open_files"));
        Assert.Equal(64UL << 20, V("container_spec_memory_limit_bytes"));
        Assert.Equal(20000UL, V("container_spec_cpu_quota"));
        Assert.Equal(1UL, V("container_oom_events_total"));
    }

    [Fact]
    public void Pod_metrics_are_the_network_interfaces()
    {
        var pod = new PodSandbox
        {
            Id = "p0d",
            Spec = new SandboxSpec { Name = "web", Uid = "u", Namespace = "ns" },
            RuntimeHandler = "runc",
            Dir = "/nonexistent",
            CgroupPath = "/kubepods/p0d",
        };
        var net = new NetworkStats(5, [new InterfaceStats("eth0", 1, 2, 3, 4, 5, 6, 7, 8)]);
        var metrics = CadvisorMetrics.ForPod(pod, net);
        Assert.Equal(8, metrics.Count);
        Assert.All(metrics, m => Assert.Equal(["/kubepods/p0d", "p0d", "", "eth0"], m.LabelValues));
        Assert.Equal(1UL, metrics.Single(m => m.Name == "container_network_receive_bytes_total").Value);
        Assert.Equal(7UL, metrics.Single(m => m.Name == "container_network_transmit_errors_total").Value);
        Assert.Equal(4UL, metrics.Single(m => m.Name == "container_network_receive_packets_dropped_total").Value);
        Assert.Empty(CadvisorMetrics.ForPod(pod, null));
    }

    [Fact]
    public void Writable_layer_usage_counts_bytes_and_inodes_of_the_upper_dir()
    {
        using var tmp = new TempDir();
        var upper = tmp.Sub("layer/upper");
        File.WriteAllBytes(Path.Combine(upper, "a"), new byte[10000]);
        Directory.CreateDirectory(Path.Combine(upper, "d"));
        File.WriteAllBytes(Path.Combine(upper, "d", "b"), new byte[2345]);
        var u = WritableLayerUsage.Measure(Container() with { LayerDir = Path.Combine(tmp.Path, "layer") });
        Assert.Equal(12345UL, u.Bytes);
        Assert.Equal(4UL, u.Inodes); // upper itself, a, d, d/b
        var cache = new WritableLayerUsage();
        var c = Container() with { LayerDir = Path.Combine(tmp.Path, "layer") };
        Assert.Equal(12345UL, cache.Get(c).Bytes);
        File.WriteAllBytes(Path.Combine(upper, "more"), new byte[5]);
        Assert.Equal(12345UL, cache.Get(c).Bytes); // cached until refreshed
        cache.RefreshAll([c], tmp.Path);
        Assert.Equal(12350UL, cache.Get(c).Bytes);
        cache.RefreshAll([], tmp.Path);
        Assert.Null(cache.Cached(c.Id));
        var fs = cache.FileSystem(tmp.Path);
        Assert.True(fs.TotalBytes > 0 && fs.TotalInodes > 0);
        Assert.NotEmpty(fs.Device);
    }
}
