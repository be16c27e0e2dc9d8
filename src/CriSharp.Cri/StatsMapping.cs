using CriSharp.Mechanism.Cgroups;
using CriSharp.Runtime.Stats;
using P = CriSharp.Api.V1;

namespace CriSharp.Cri;

/// <summary>Engine stats and metrics → CRI messages.</summary>
static class StatsMapping
{
    static P.UInt64Value U(ulong v) => new() { Value = v };

    public static P.ContainerStats Container(ContainerStatsSample s, string layersMountpoint)
    {
        var c = s.Container;
        var proto = new P.ContainerStats
        {
            Attributes = new P.ContainerAttributes
            {
                Id = c.Id,
                Metadata = new P.ContainerMetadata { Name = c.Spec.Name, Attempt = c.Spec.Attempt },
                Labels = { c.Spec.Labels },
                Annotations = { c.Spec.Annotations },
            },
        };
        if (s.Cgroup is { } cg)
        {
            proto.Cpu = Cpu(cg, s.NanoCores);
            proto.Memory = Memory(cg);
            proto.Swap = Swap(cg);
            proto.Io = Io(cg);
        }
        if (s.WritableLayer is { } layer)
        {
            proto.WritableLayer = new P.FilesystemUsage
            {
                Timestamp = layer.Timestamp,
                FsId = new P.FilesystemIdentifier { Mountpoint = layersMountpoint },
                UsedBytes = U(layer.Bytes),
                InodesUsed = U(layer.Inodes),
            };
        }
        return proto;
    }

    public static P.PodSandboxStats Pod(PodStatsSample s, string layersMountpoint)
    {
        var p = s.Pod;
        var linux = new P.LinuxPodSandboxStats();
        if (s.Cgroup is { } cg)
        {
            linux.Cpu = Cpu(cg, s.NanoCores);
            linux.Memory = Memory(cg);
            linux.Io = Io(cg);
            if (cg.Pids is { } pids) linux.Process = new P.ProcessUsage { Timestamp = cg.Timestamp, ProcessCount = U(pids.Current) };
        }
        if (s.Network is { } net)
        {
            var usage = new P.NetworkUsage { Timestamp = net.Timestamp };
            var def = net.Default;
            if (def != null) usage.DefaultInterface = Interface(def);
            usage.Interfaces.AddRange(net.Interfaces.Where(i => !ReferenceEquals(i, def)).Select(Interface));
            linux.Network = usage;
        }
        linux.Containers.AddRange(s.Containers.Select(c => Container(c, layersMountpoint)));
        return new P.PodSandboxStats
        {
            Attributes = new P.PodSandboxAttributes
            {
                Id = p.Id,
                Metadata = RuntimeMapping.Metadata(p.Spec),
                Labels = { p.Spec.Labels },
                Annotations = { p.Spec.Annotations },
            },
            Linux = linux,
        };
    }

    static P.NetworkInterfaceUsage Interface(InterfaceStats i) => new()
    {
        Name = i.Name,
        RxBytes = U(i.RxBytes),
        RxErrors = U(i.RxErrors),
        TxBytes = U(i.TxBytes),
        TxErrors = U(i.TxErrors),
    };

    static P.CpuUsage? Cpu(CgroupStats cg, ulong? nanoCores)
    {
        if (cg.Cpu is not { } cpu) return null;
        var u = new P.CpuUsage { Timestamp = cg.Timestamp, UsageCoreNanoSeconds = U(cpu.UsageNanos), Psi = Psi(cg.CpuPressure) };
        if (nanoCores is { } rate) u.UsageNanoCores = U(rate);
        return u;
    }

    static P.MemoryUsage? Memory(CgroupStats cg)
    {
        if (cg.Memory is not { } m) return null;
        var u = new P.MemoryUsage
        {
            Timestamp = cg.Timestamp,
            WorkingSetBytes = U(m.WorkingSet),
            UsageBytes = U(m.Usage),
            RssBytes = U(m.Rss),
            PageFaults = U(m.PageFaults),
            MajorPageFaults = U(m.MajorPageFaults),
            Psi = Psi(cg.MemoryPressure),
        };
        // Only a limited cgroup has a meaningful "available" (cAdvisor leaves it out otherwise).
        if (m.Limit > 0) u.AvailableBytes = U(m.Limit > m.WorkingSet ? m.Limit - m.WorkingSet : 0);
        return u;
    }

    static P.SwapUsage? Swap(CgroupStats cg) => cg.Memory is { } m
        ? new P.SwapUsage { Timestamp = cg.Timestamp, SwapUsageBytes = U(m.Swap), SwapAvailableBytes = U(m.SwapAvailable) }
        : null;

    static P.IoUsage? Io(CgroupStats cg) => cg.IoPressure is { } io ? new P.IoUsage { Timestamp = cg.Timestamp, Psi = Psi(io) } : null;

    static P.PsiStats? Psi(PressureStats? p) => p == null ? null : new P.PsiStats { Full = Psi(p.Full), Some = Psi(p.Some) };

    // The kernel counts stall time in µs; CRI's PsiData.Total is in ns.
    static P.PsiData? Psi(PressureLine? l) => l == null ? null : new P.PsiData { Total = l.TotalMicros * 1000, Avg10 = l.Avg10, Avg60 = l.Avg60, Avg300 = l.Avg300 };

    public static P.MetricDescriptor Descriptor(MetricDescriptorInfo d) => new() { Name = d.Name, Help = d.Help, LabelKeys = { d.LabelKeys } };

    public static P.PodSandboxMetrics PodMetrics(PodMetricSet s)
    {
        var proto = new P.PodSandboxMetrics { PodSandboxId = s.PodSandboxId };
        proto.Metrics.AddRange(s.Metrics.Select(Metric));
        proto.ContainerMetrics.AddRange(s.Containers.Select(c => new P.ContainerMetrics { ContainerId = c.ContainerId, Metrics = { c.Metrics.Select(Metric) } }));
        return proto;
    }

    static P.Metric Metric(MetricSample m) => new()
    {
        Name = m.Name,
        Timestamp = m.Timestamp,
        MetricType = m.Kind == MetricKind.Counter ? P.MetricType.Counter : P.MetricType.Gauge,
        LabelValues = { m.LabelValues },
        Value = U(m.Value),
    };
}
