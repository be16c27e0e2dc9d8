using System.Collections.Concurrent;
using System.Globalization;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Model;

namespace CriSharp.Runtime.Stats;

/// <summary>Prometheus value type of a metric (CRI MetricType).</summary>
public enum MetricKind { Counter, Gauge }

/// <summary>A metric as ListMetricDescriptors describes it: label keys in the order the values come.</summary>
public sealed record MetricDescriptorInfo(string Name, string Help, IReadOnlyList<string> LabelKeys, MetricKind Kind);

/// <summary>One value of a metric; <see cref="Timestamp"/> (unix ns) is when it was measured.</summary>
public sealed record MetricSample(string Name, MetricKind Kind, IReadOnlyList<string> LabelValues, ulong Value, long Timestamp);

/// <summary>The metrics of one container.</summary>
public sealed record ContainerMetricSet(string ContainerId, IReadOnlyList<MetricSample> Metrics);

/// <summary>The metrics of one pod: pod-level ones (network) and each container's.</summary>
public sealed record PodMetricSet(string PodSandboxId, IReadOnlyList<MetricSample> Metrics, IReadOnlyList<ContainerMetricSet> Containers);

/// <summary>What /proc says about a container's processes, for the process metrics.</summary>
public sealed record ProcessSnapshot(int Processes, int Threads, int FileDescriptors, int Sockets, ulong? MaxOpenFilesSoft);

/// <summary>
/// The cAdvisor-named metrics the kubelet serves on /metrics/cadvisor when it takes them from the runtime
/// (PodAndContainerStatsFromCRI): the 56 names cri-tools' conformance suite expects, with cAdvisor's help
/// texts and value types. Label keys start with "id", "name", "image" (the cgroup path, the CRI id and the
/// image, as cAdvisor fills them); the kubelet itself appends "namespace", "pod" and "container", so they
/// must not be repeated here. Values are integers (CRI's UInt64Value): seconds are whole seconds.
/// </summary>
public static class CadvisorMetrics
{
    static readonly string[] Base = ["id", "name", "image"];
    static string[] With(params string[] extra) => [.. Base, .. extra];

    const MetricKind C = MetricKind.Counter, G = MetricKind.Gauge;

    public static readonly IReadOnlyList<MetricDescriptorInfo> Descriptors =
    [
        new("container_last_seen", "Last time a container was seen by the exporter", Base, G),
        new("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", Base, G),
        // cpu
        new("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", Base, C),
        new("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", Base, C),
        new("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", With("cpu"), C),
        new("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", Base, C),
        new("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", Base, C),
        new("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", Base, C),
        // memory
        new("container_memory_cache", "Number of bytes of page cache memory.", Base, G),
        new("container_memory_rss", "Size of RSS in bytes.", Base, G),
        new("container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", Base, G),
        new("container_memory_mapped_file", "Size of memory mapped files in bytes.", Base, G),
        new("container_memory_swap", "Container swap usage in bytes.", Base, G),
        new("container_memory_failcnt", "Number of memory usage hits limits", Base, C),
        new("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", Base, G),
        new("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", Base, G),
        new("container_memory_working_set_bytes", "Current working set in bytes.", Base, G),
        new("container_memory_failures_total", "Cumulative count of memory allocation failures.", With("failure_type", "scope"), C),
        // hugetlb
        new("container_hugetlb_usage_bytes", "Current hugepage usage in bytes", With("pagesize"), G),
        new("container_hugetlb_max_usage_bytes", "Maximum hugepage usage recorded in bytes", With("pagesize"), G),
        // file system (the writable layer's)
        new("container_fs_inodes_free", "Number of available Inodes", With("device"), G),
        new("container_fs_inodes_total", "Number of Inodes", With("device"), G),
        new("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", With("device"), G),
        new("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", With("device"), G),
        // block I/O
        new("container_fs_reads_bytes_total", "Cumulative count of bytes read", With("device"), C),
        new("container_fs_reads_total", "Cumulative count of reads completed", With("device"), C),
        new("container_fs_writes_bytes_total", "Cumulative count of bytes written", With("device"), C),
        new("container_fs_writes_total", "Cumulative count of writes completed", With("device"), C),
        new("container_blkio_device_usage_total", "Blkio Device bytes usage", With("device", "major", "minor", "operation"), C),
        // network (pod level: the pod's netns)
        new("container_network_receive_bytes_total", "Cumulative count of bytes received", With("interface"), C),
        new("container_network_receive_packets_total", "Cumulative count of packets received", With("interface"), C),
        new("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", With("interface"), C),
        new("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", With("interface"), C),
        new("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", With("interface"), C),
        new("container_network_transmit_packets_total", "Cumulative count of packets transmitted", With("interface"), C),
        new("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", With("interface"), C),
        new("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", With("interface"), C),
        // processes
        new("container_processes", "Number of processes running inside the container.", Base, G),
        new("container_file_descriptors", "Number of open file descriptors for the container.", Base, G),
        new("container_sockets", "Number of open sockets for the container.", Base, G),
        new("container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero", Base, G),
        new("container_threads", "Number of threads running inside the container", Base, G),
        new("container_ulimits_soft", "Soft ulimit values for the container root process. Unlimited if -1, except priority and nice", With("ulimit"), G),
        // oom
        new("container_oom_events_total", "Count of out of memory events observed for the container", Base, C),
        // pressure (PSI)
        new("container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.", Base, C),
        new("container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.", Base, C),
        new("container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.", Base, C),
        new("container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.", Base, C),
        new("container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.", Base, C),
        new("container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.", Base, C),
        // spec
        new("container_spec_cpu_period", "CPU period of the container.", Base, G),
        new("container_spec_cpu_quota", "CPU quota of the container.", Base, G),
        new("container_spec_cpu_shares", "CPU share of the container.", Base, G),
        new("container_spec_memory_limit_bytes", "Memory limit for the container.", Base, G),
        new("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container.", Base, G),
        new("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", Base, G),
    ];

    static readonly Dictionary<string, MetricKind> Kinds = Descriptors.ToDictionary(d => d.Name, d => d.Kind, StringComparer.Ordinal);

    /// <summary>The metrics of one container from one full cgroup read.</summary>
    public static List<MetricSample> ForContainer(ContainerRecord c, CgroupStats? s, LayerUsage? layer, LayerFileSystem fs,
        ProcessSnapshot? procs, long now)
    {
        var list = new List<MetricSample>(64);
        var samples = new ContainerSamples(list, [c.CgroupPath, c.Id, c.Spec.Image]);
        samples.Add("container_last_seen", (ulong)(now / 1_000_000_000), now);
        samples.Add("container_start_time_seconds", (ulong)((c.StartedAt > 0 ? c.StartedAt : c.CreatedAt) / 1_000_000_000), now);
        if (layer != null) AddLayer(samples, layer, fs);
        if (s == null) return list;

        var ts = s.Timestamp;
        if (s.Cpu is { } cpu) AddCpu(samples, cpu, ts);
        if (s.CpuSpec is { } spec) AddCpuSpec(samples, spec, ts);
        if (s.Memory is { } m) AddMemory(samples, m, ts);
        foreach (var h in s.Hugetlb) AddHugetlb(samples, h, ts);
        foreach (var d in s.BlockIo) AddBlockIo(samples, d, ts);
        AddPressure(samples, "container_pressure_cpu_stalled_seconds_total", "container_pressure_cpu_waiting_seconds_total", s.CpuPressure, ts);
        AddPressure(samples, "container_pressure_memory_stalled_seconds_total", "container_pressure_memory_waiting_seconds_total", s.MemoryPressure, ts);
        AddPressure(samples, "container_pressure_io_stalled_seconds_total", "container_pressure_io_waiting_seconds_total", s.IoPressure, ts);
        if (s.Pids is { } pids) samples.Add("container_threads_max", pids.Limit, ts);
        if (procs != null) AddProcesses(samples, procs, ts);
        return list;
    }

    /// <summary>
    /// Appends samples of one container to its list: the label values are the container's "id", "name" and
    /// "image", then the metric's own. A sample without extra labels shares the one base array.
    /// </summary>
    readonly struct ContainerSamples(List<MetricSample> list, string[] baseValues)
    {
        public void Add(string name, ulong value, long at, params string[] extra) =>
            list.Add(new MetricSample(name, Kinds[name], extra.Length == 0 ? baseValues : [.. baseValues, .. extra], value, at));
    }

    /// <summary>The writable layer's usage and its file system's size, measured at the layer's timestamp.</summary>
    static void AddLayer(ContainerSamples samples, LayerUsage layer, LayerFileSystem fs)
    {
        samples.Add("container_fs_usage_bytes", layer.Bytes, layer.Timestamp, fs.Device);
        samples.Add("container_fs_limit_bytes", fs.TotalBytes, layer.Timestamp, fs.Device);
        samples.Add("container_fs_inodes_total", fs.TotalInodes, layer.Timestamp, fs.Device);
        samples.Add("container_fs_inodes_free", fs.FreeInodes, layer.Timestamp, fs.Device);
    }

    /// <summary>CPU time in whole seconds and CFS throttling.</summary>
    static void AddCpu(ContainerSamples samples, CpuStats cpu, long ts)
    {
        samples.Add("container_cpu_usage_seconds_total", cpu.UsageNanos / 1_000_000_000, ts, "total");
        samples.Add("container_cpu_user_seconds_total", cpu.UserNanos / 1_000_000_000, ts);
        samples.Add("container_cpu_system_seconds_total", cpu.SystemNanos / 1_000_000_000, ts);
        samples.Add("container_cpu_cfs_periods_total", cpu.Periods, ts);
        samples.Add("container_cpu_cfs_throttled_periods_total", cpu.ThrottledPeriods, ts);
        samples.Add("container_cpu_cfs_throttled_seconds_total", cpu.ThrottledNanos / 1_000_000_000, ts);
    }

    /// <summary>The CFS settings; the quota only when there is one.</summary>
    static void AddCpuSpec(ContainerSamples samples, CpuSpec spec, long ts)
    {
        samples.Add("container_spec_cpu_period", spec.PeriodMicros, ts);
        samples.Add("container_spec_cpu_shares", spec.Shares, ts);
        if (spec.QuotaMicros > 0) samples.Add("container_spec_cpu_quota", spec.QuotaMicros, ts);
    }

    /// <summary>Memory usage, page faults (own and hierarchical), OOM kills and the memory limits.</summary>
    static void AddMemory(ContainerSamples samples, MemoryStats m, long ts)
    {
        samples.Add("container_memory_cache", m.Cache, ts);
        samples.Add("container_memory_rss", m.Rss, ts);
        samples.Add("container_memory_kernel_usage", m.KernelUsage, ts);
        samples.Add("container_memory_mapped_file", m.MappedFile, ts);
        samples.Add("container_memory_swap", m.Swap, ts);
        samples.Add("container_memory_failcnt", m.Failcnt, ts);
        samples.Add("container_memory_usage_bytes", m.Usage, ts);
        samples.Add("container_memory_max_usage_bytes", m.MaxUsage, ts);
        samples.Add("container_memory_working_set_bytes", m.WorkingSet, ts);
        samples.Add("container_memory_failures_total", m.PageFaults, ts, "pgfault", "container");
        samples.Add("container_memory_failures_total", m.MajorPageFaults, ts, "pgmajfault", "container");
        samples.Add("container_memory_failures_total", m.HierarchyPageFaults, ts, "pgfault", "hierarchy");
        samples.Add("container_memory_failures_total", m.HierarchyMajorPageFaults, ts, "pgmajfault", "hierarchy");
        samples.Add("container_oom_events_total", m.OomKills, ts);
        samples.Add("container_spec_memory_limit_bytes", m.Limit, ts);
        samples.Add("container_spec_memory_reservation_limit_bytes", m.Reservation, ts);
        samples.Add("container_spec_memory_swap_limit_bytes", m.SwapLimit, ts);
    }

    /// <summary>One page size's hugepage usage and peak.</summary>
    static void AddHugetlb(ContainerSamples samples, HugetlbUsage h, long ts)
    {
        samples.Add("container_hugetlb_usage_bytes", h.Usage, ts, h.PageSize);
        samples.Add("container_hugetlb_max_usage_bytes", h.MaxUsage, ts, h.PageSize);
    }

    /// <summary>One block device's bytes and operations, by device name and as blkio usage by major:minor.</summary>
    static void AddBlockIo(ContainerSamples samples, BlockDeviceIo d, long ts)
    {
        var device = DeviceName(d.Major, d.Minor);
        var major = d.Major.ToString(CultureInfo.InvariantCulture);
        var minor = d.Minor.ToString(CultureInfo.InvariantCulture);
        samples.Add("container_fs_reads_bytes_total", d.ReadBytes, ts, device);
        samples.Add("container_fs_writes_bytes_total", d.WriteBytes, ts, device);
        samples.Add("container_fs_reads_total", d.Reads, ts, device);
        samples.Add("container_fs_writes_total", d.Writes, ts, device);
        samples.Add("container_blkio_device_usage_total", d.ReadBytes, ts, device, major, minor, "Read");
        samples.Add("container_blkio_device_usage_total", d.WriteBytes, ts, device, major, minor, "Write");
    }

    /// <summary>One resource's PSI stall times in whole seconds: "full" as stalled, "some" as waiting.</summary>
    static void AddPressure(ContainerSamples samples, string stalledName, string waitingName, PressureStats? p, long ts)
    {
        if (p == null) return;
        if (p.Full is { } full) samples.Add(stalledName, full.TotalMicros / 1_000_000, ts);
        if (p.Some is { } some) samples.Add(waitingName, some.TotalMicros / 1_000_000, ts);
    }

    /// <summary>What /proc counted for the container's processes, and their soft open-files limit when known.</summary>
    static void AddProcesses(ContainerSamples samples, ProcessSnapshot procs, long ts)
    {
        samples.Add("container_processes", (ulong)procs.Processes, ts);
        samples.Add("container_threads", (ulong)procs.Threads, ts);
        samples.Add("container_file_descriptors", (ulong)procs.FileDescriptors, ts);
        samples.Add("container_sockets", (ulong)procs.Sockets, ts);
        if (procs.MaxOpenFilesSoft is { } nofile) samples.Add("container_ulimits_soft", nofile, ts, "max_open_files");
    }

    /// <summary>The pod-level metrics: its network namespace's interfaces (labelled with the pod cgroup and id).</summary>
    public static List<MetricSample> ForPod(PodSandbox p, NetworkStats? net)
    {
        var list = new List<MetricSample>();
        if (net == null) return list;
        string[] baseValues = [p.CgroupPath, p.Id, ""];
        foreach (var i in net.Interfaces)
        {
            void Add(string name, ulong value) => list.Add(new MetricSample(name, Kinds[name], [.. baseValues, i.Name], value, net.Timestamp));
            Add("container_network_receive_bytes_total", i.RxBytes);
            Add("container_network_receive_packets_total", i.RxPackets);
            Add("container_network_receive_packets_dropped_total", i.RxDropped);
            Add("container_network_receive_errors_total", i.RxErrors);
            Add("container_network_transmit_bytes_total", i.TxBytes);
            Add("container_network_transmit_packets_total", i.TxPackets);
            Add("container_network_transmit_packets_dropped_total", i.TxDropped);
            Add("container_network_transmit_errors_total", i.TxErrors);
        }
        return list;
    }

    static readonly ConcurrentDictionary<(uint, uint), string> DeviceNames = new();

    /// <summary>"/dev/vda" for 254:0, from sysfs (cached); "major:minor" if sysfs does not say.</summary>
    public static string DeviceName(uint major, uint minor) => DeviceNames.GetOrAdd((major, minor), key =>
    {
        var uevent = CgroupFiles.Read($"/sys/dev/block/{key.Item1}:{key.Item2}/uevent");
        var name = uevent?.Split('\n').FirstOrDefault(l => l.StartsWith("DEVNAME=", StringComparison.Ordinal))?["DEVNAME=".Length..].Trim();
        return string.IsNullOrEmpty(name) ? $"{key.Item1}:{key.Item2}" : "/dev/" + name;
    });
}
