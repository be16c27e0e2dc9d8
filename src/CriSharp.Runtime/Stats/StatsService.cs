using System.Collections.Concurrent;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Model;
using CriSharp.Runtime.Containers;
using CriSharp.State;
using Serilog;

namespace CriSharp.Runtime.Stats;

/// <summary>One container's stats: cgroup counters (null when it has no live cgroup), CPU rate, writable layer.</summary>
public sealed record ContainerStatsSample(ContainerRecord Container, long Timestamp, CgroupStats? Cgroup, ulong? NanoCores, LayerUsage? WritableLayer);

/// <summary>One pod's stats: its cgroup, CPU rate, network namespace counters, and its containers' stats.</summary>
public sealed record PodStatsSample(PodSandbox Pod, long Timestamp, CgroupStats? Cgroup, ulong? NanoCores, NetworkStats? Network,
    IReadOnlyList<ContainerStatsSample> Containers);

/// <summary>
/// Container and pod stats for the CRI stats and metrics RPCs. CPU usage in nano-cores is the rate between
/// this read and the previous one kept per container (a first read samples twice, 100 ms apart, all
/// containers of the call together); writable-layer usage comes from a cache a background refresher
/// renews every 10 s, so a list of 100 containers only reads cgroup files.
/// </summary>
public sealed class StatsService : IDisposable
{
    /// <summary>How far apart the two samples of a first read are.</summary>
    public static readonly TimeSpan FirstSampleInterval = TimeSpan.FromMilliseconds(100);
    /// <summary>A previous sample nearer than this is too close for a rate: the last rate is reported again.</summary>
    static readonly long MinRateWindowNanos = 50_000_000;
    /// <summary>The kept sample is replaced once the new one is at least this much newer (so bursts of calls share a window).</summary>
    static readonly long ReplaceSampleAfterNanos = 1_000_000_000;
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(10);

    readonly ContainerManager _containers;
    readonly RecordIndex<PodSandbox> _sandboxes;
    readonly CgroupStatsReader _reader;
    readonly PodNetworkReader _network = new();
    readonly WritableLayerUsage _layers = new();
    readonly ILogger _log;
    readonly ConcurrentDictionary<string, CpuSample> _cpu = new(StringComparer.Ordinal);
    readonly object _timerLock = new();
    Timer? _timer;
    int _refreshing;

    sealed record CpuSample(ulong UsageNanos, long Timestamp, ulong? Rate);

    public StatsService(ContainerManager containers, RecordIndex<PodSandbox> sandboxes, ICgroupManager cgroups, ILogger log)
        : this(containers, sandboxes, CgroupStatsReader.ForHost(cgroups), log)
    {
    }

    public StatsService(ContainerManager containers, RecordIndex<PodSandbox> sandboxes, CgroupStatsReader reader, ILogger log)
    {
        _containers = containers;
        _sandboxes = sandboxes;
        _reader = reader;
        _log = log;
    }

    public CgroupStatsReader Reader => _reader;
    public WritableLayerUsage Layers => _layers;

    /// <summary>Stats of one container (id or unique prefix).</summary>
    public async Task<ContainerStatsSample> ContainerStatsAsync(string id, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        return (await ContainerStatsAsync([c], ct))[0];
    }

    /// <summary>Stats of <paramref name="containers"/>, in that order.</summary>
    public async Task<IReadOnlyList<ContainerStatsSample>> ContainerStatsAsync(IReadOnlyList<ContainerRecord> containers, CancellationToken ct)
    {
        EnsureRefresher();
        var reads = containers.Select(c => new CgroupRead("c/" + c.Id, HasLiveCgroup(c) ? c.CgroupPath : null)).ToArray();
        await ReadWithRatesAsync(reads, CgroupStatsParts.Cri, ct);
        var now = Naming.NowNanos();
        var result = new ContainerStatsSample[containers.Count];
        for (int i = 0; i < containers.Count; i++)
            result[i] = new ContainerStatsSample(containers[i], reads[i].Stats?.Timestamp ?? now, reads[i].Stats, reads[i].Rate, _layers.Get(containers[i]));
        return result;
    }

    /// <summary>Stats of one pod (id or unique prefix), with its containers'.</summary>
    public async Task<PodStatsSample> PodStatsAsync(string id, CancellationToken ct)
    {
        var p = _sandboxes.Find(id) ?? throw new ObjectNotFoundException($"pod sandbox {id} not found");
        return (await PodStatsAsync([p], ct))[0];
    }

    /// <summary>Stats of <paramref name="pods"/>, in that order, each with the stats of its containers.</summary>
    public async Task<IReadOnlyList<PodStatsSample>> PodStatsAsync(IReadOnlyList<PodSandbox> pods, CancellationToken ct)
    {
        EnsureRefresher();
        var byPod = GroupByPod(pods);
        var podReads = pods.Select(p => new CgroupRead("p/" + p.Id, p.State == SandboxState.Ready && p.CgroupPath.Length > 0 ? p.CgroupPath : null)).ToArray();
        var allContainers = pods.SelectMany(p => byPod[p.Id]).ToArray();
        var containerReads = allContainers.Select(c => new CgroupRead("c/" + c.Id, HasLiveCgroup(c) ? c.CgroupPath : null)).ToArray();
        await ReadWithRatesAsync([.. podReads, .. containerReads], CgroupStatsParts.Cri | CgroupStatsParts.Pids, ct);

        var containerStats = new Dictionary<string, ContainerStatsSample>(StringComparer.Ordinal);
        var now = Naming.NowNanos();
        for (int i = 0; i < allContainers.Length; i++)
        {
            var c = allContainers[i];
            containerStats[c.Id] = new ContainerStatsSample(c, containerReads[i].Stats?.Timestamp ?? now, containerReads[i].Stats, containerReads[i].Rate, _layers.Get(c));
        }
        var result = new PodStatsSample[pods.Count];
        for (int i = 0; i < pods.Count; i++)
        {
            var p = pods[i];
            var members = byPod[p.Id];
            var network = p.State == SandboxState.Ready ? await _network.ReadAsync(p, RunningPids(members), ct) : null;
            result[i] = new PodStatsSample(p, podReads[i].Stats?.Timestamp ?? now, podReads[i].Stats, podReads[i].Rate, network,
                [.. members.Select(c => containerStats[c.Id])]);
        }
        return result;
    }

    /// <summary>The cAdvisor metrics of every ready pod and its running containers.</summary>
    public async Task<IReadOnlyList<PodMetricSet>> PodMetricsAsync(CancellationToken ct)
    {
        EnsureRefresher();
        var pods = _sandboxes.All().Where(p => p.State == SandboxState.Ready).OrderBy(p => p.CreatedAt).ToList();
        var byPod = GroupByPod(pods);
        var fs = _layers.FileSystem(_containers.ContainersLayerDir);
        var result = new List<PodMetricSet>(pods.Count);
        foreach (var p in pods)
        {
            var members = byPod[p.Id];
            var network = await _network.ReadAsync(p, RunningPids(members), ct);
            var containerSets = new List<ContainerMetricSet>();
            foreach (var c in members.Where(c => c.State == ContainerState.Running))
            {
                var now = Naming.NowNanos();
                var stats = _reader.Read(c.CgroupPath, CgroupStatsParts.All);
                ProcessSnapshot? procs = null;
                if (stats != null)
                {
                    var pids = _reader.Processes(c.CgroupPath);
                    var (fds, sockets) = ProcessInspector.CountFds(pids);
                    procs = new ProcessSnapshot(pids.Count, _reader.Threads(c.CgroupPath), fds, sockets, c.Pid > 0 ? ProcessInspector.SoftLimit(c.Pid) : null);
                }
                containerSets.Add(new ContainerMetricSet(c.Id, CadvisorMetrics.ForContainer(c, stats, _layers.Get(c), fs, procs, now)));
            }
            result.Add(new PodMetricSet(p.Id, CadvisorMetrics.ForPod(p, network), containerSets));
        }
        return result;
    }

    Dictionary<string, List<ContainerRecord>> GroupByPod(IReadOnlyList<PodSandbox> pods)
    {
        var map = pods.ToDictionary(p => p.Id, _ => new List<ContainerRecord>(), StringComparer.Ordinal);
        foreach (var c in _containers.List().OrderBy(c => c.CreatedAt))
            if (map.TryGetValue(c.SandboxId, out var list)) list.Add(c);
        return map;
    }

    static IEnumerable<int> RunningPids(IEnumerable<ContainerRecord> containers) =>
        containers.Where(c => c.State == ContainerState.Running && c.Pid > 0).Select(c => c.Pid);

    /// <summary>Created and running containers have a cgroup; an exited one's is gone or going.</summary>
    static bool HasLiveCgroup(ContainerRecord c) =>
        c.State is ContainerState.Running or ContainerState.Created && c.CgroupPath.Length > 0;

    sealed class CgroupRead(string key, string? path)
    {
        public string Key { get; } = key;
        public string? Path { get; } = path;
        public CgroupStats? Stats { get; set; }
        public ulong? Rate { get; set; }
    }

    /// <summary>Reads every cgroup once; those without a previous CPU sample are read again after <see cref="FirstSampleInterval"/>.</summary>
    async Task ReadWithRatesAsync(IReadOnlyList<CgroupRead> reads, CgroupStatsParts parts, CancellationToken ct)
    {
        List<CgroupRead>? first = null;
        foreach (var r in reads)
        {
            if (r.Path == null) continue;
            r.Stats = _reader.Read(r.Path, parts);
            if (r.Stats?.Cpu is not { } cpu) continue;
            r.Rate = UpdateRate(r.Key, cpu.UsageNanos, r.Stats.Timestamp);
            if (r.Rate == null) (first ??= []).Add(r);
        }
        if (first == null) return;
        await Task.Delay(FirstSampleInterval, ct);
        foreach (var r in first)
        {
            var again = _reader.Read(r.Path!, CgroupStatsParts.Cpu);
            if (again?.Cpu is not { } cpu) continue;
            r.Stats = r.Stats! with { Cpu = cpu, Timestamp = again.Timestamp };
            r.Rate = UpdateRate(r.Key, cpu.UsageNanos, again.Timestamp);
        }
    }

    ulong? UpdateRate(string key, ulong usage, long timestamp)
    {
        if (_cpu.TryGetValue(key, out var prev) && usage >= prev.UsageNanos && timestamp > prev.Timestamp)
        {
            var window = timestamp - prev.Timestamp;
            if (window < MinRateWindowNanos) return prev.Rate;
            var rate = (ulong)((usage - prev.UsageNanos) * 1e9 / window);
            _cpu[key] = window >= ReplaceSampleAfterNanos ? new CpuSample(usage, timestamp, rate) : prev with { Rate = rate };
            return rate;
        }
        _cpu[key] = new CpuSample(usage, timestamp, null);
        return null;
    }

    void EnsureRefresher()
    {
        if (_timer != null) return;
        lock (_timerLock)
            _timer ??= new Timer(_ => Refresh(), null, RefreshInterval, RefreshInterval);
    }

    /// <summary>Re-measures every writable layer and forgets the CPU samples of removed containers and pods.</summary>
    public void Refresh()
    {
        if (Interlocked.Exchange(ref _refreshing, 1) == 1) return;
        try
        {
            var containers = _containers.List();
            _layers.RefreshAll(containers, _containers.ContainersLayerDir);
            var live = containers.Select(c => "c/" + c.Id).Concat(_sandboxes.All().Select(p => "p/" + p.Id)).ToHashSet(StringComparer.Ordinal);
            foreach (var key in _cpu.Keys)
                if (!live.Contains(key)) _cpu.TryRemove(key, out _);
        }
        catch (Exception e)
        {
            _log.Warning("refreshing writable-layer usage failed: {Error}", e.Message);
        }
        finally
        {
            Volatile.Write(ref _refreshing, 0);
        }
    }

    public void Dispose() => _timer?.Dispose();
}
