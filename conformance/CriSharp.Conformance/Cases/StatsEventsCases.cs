using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// Container and pod sandbox stats, metric descriptors and pod metrics: what kubelet's summary API, eviction and
/// /metrics/cadvisor read from a runtime. Every container here runs <c>sleep</c> from the busybox test image and is
/// RUNNING when measured (runtimes report stats of running containers). Values are not compared with the host: the
/// cases check identity, presence and plausibility (timestamps near now, working set above zero).
/// </summary>
[CaseArea("Stats")]
public sealed class StatsCases
{
    private static readonly TimeSpan StateWait = TimeSpan.FromSeconds(15);

    [Case("ContainerStats of a running container has attributes, cpu and memory with timestamps")]
    public async Task ContainerStats(CaseContext ctx)
    {
        var f = await StatsFixture.StartAsync(ctx, "cstats");
        var config = f.Container("measured");
        config.Labels["tier"] = "stats";
        config.Annotations["example.com/note"] = "measured";
        var id = await f.RunContainerAsync(config);

        var r = await ctx.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = id }, ctx.Options);
        var s = Check.NotNull(r.Stats, $"ContainerStats({id}).stats");
        CheckContainerStats(s, id, config);
    }

    [Case("ListContainerStats filters by container id, by pod and by label")]
    public async Task ListContainerStats(CaseContext ctx)
    {
        var f = await StatsFixture.StartAsync(ctx, "lstats");
        var a1 = await f.RunContainerAsync(f.Container("a1"));
        var a2 = await f.RunContainerAsync(f.Container("a2"));
        var other = await f.NewPodConfigAsync("lstats-other");
        var otherPod = await ctx.RunPodAsync(other);
        var b1Config = f.Container("b1");
        b1Config.Labels["only"] = "b1";
        var b1 = await ctx.CreateContainerAsync(otherPod, other, b1Config);
        await ctx.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = b1 }, ctx.Options);
        await ctx.WaitContainerStateAsync(b1, ContainerState.ContainerRunning, StateWait);

        var byId = await ListAsync(ctx, new ContainerStatsFilter { Id = a2 });
        Check.Equal(Pods.Show([a2]), Pods.Show(byId.Select(s => s.Attributes?.Id ?? "")), $"ListContainerStats(id {a2})");
        CheckContainerStats(byId[0], a2, null);

        var byPod = await ListAsync(ctx, new ContainerStatsFilter { PodSandboxId = f.PodId });
        Check.Equal(Pods.Show(new[] { a1, a2 }.Order()), Pods.Show(byPod.Select(s => s.Attributes?.Id ?? "").Order()), $"ListContainerStats(pod {f.PodId})");

        var byLabel = await ListAsync(ctx, new ContainerStatsFilter { LabelSelector = { [Pods.RunLabel] = f.Run, ["only"] = "b1" } });
        Check.Equal(Pods.Show([b1]), Pods.Show(byLabel.Select(s => s.Attributes?.Id ?? "")), "ListContainerStats(label only=b1)");

        var byRun = await ListAsync(ctx, new ContainerStatsFilter { LabelSelector = { [Pods.RunLabel] = f.Run } });
        Check.Equal(Pods.Show(new[] { a1, a2, b1 }.Order()), Pods.Show(byRun.Select(s => s.Attributes?.Id ?? "").Order()), "ListContainerStats(run label)");

        var all = await ListAsync(ctx, new ContainerStatsFilter());
        foreach (var id in new[] { a1, a2, b1 })
        {
            Check.True(all.Any(s => s.Attributes?.Id == id), $"ListContainerStats without a filter lacks running container {id}");
        }
    }

    [Case("PodSandboxStats of a running pod has attributes, cpu, memory and its containers")]
    public async Task PodSandboxStats(CaseContext ctx)
    {
        var f = await StatsFixture.StartAsync(ctx, "pstats");
        var id = await f.RunContainerAsync(f.Container("inside"));

        var r = await ctx.Runtime.PodSandboxStatsAsync(new PodSandboxStatsRequest { PodSandboxId = f.PodId }, ctx.Options);
        var s = Check.NotNull(r.Stats, $"PodSandboxStats({f.PodId}).stats");
        Check.Equal(f.PodId, s.Attributes?.Id, "attributes.id");
        Check.Equal(f.PodConfig.Metadata.Name, s.Attributes?.Metadata?.Name, "attributes.metadata.name");
        Check.Equal(f.PodConfig.Metadata.Uid, s.Attributes?.Metadata?.Uid, "attributes.metadata.uid");
        Check.Equal(f.PodConfig.Metadata.Namespace, s.Attributes?.Metadata?.Namespace, "attributes.metadata.namespace");
        Check.Equal(f.Run, s.Attributes?.Labels.GetValueOrDefault(Pods.RunLabel), $"attributes.labels[{Pods.RunLabel}]");
        var linux = Check.NotNull(s.Linux, "linux");
        CheckCpu(linux.Cpu, "linux.cpu");
        CheckMemory(linux.Memory, "linux.memory");
        var mine = linux.Containers.Where(c => c.Attributes?.Id == id).ToList();
        Check.Equal(1, mine.Count, $"entries for container {id} in linux.containers {Pods.Show(linux.Containers.Select(c => c.Attributes?.Id ?? ""))}");
        CheckCpu(mine[0].Cpu, $"linux.containers[{id}].cpu");
        CheckMemory(mine[0].Memory, $"linux.containers[{id}].memory");
    }

    [Case("ListPodSandboxStats filters by pod id and by label")]
    public async Task ListPodSandboxStats(CaseContext ctx)
    {
        var f = await StatsFixture.StartAsync(ctx, "lpstats");
        await f.RunContainerAsync(f.Container("inside"));
        var other = await f.NewPodConfigAsync("lpstats-other");
        other.Labels["only"] = "other";
        var otherPod = await ctx.RunPodAsync(other);

        var byId = await ListPodsAsync(ctx, new PodSandboxStatsFilter { Id = f.PodId });
        Check.Equal(Pods.Show([f.PodId]), Pods.Show(byId.Select(s => s.Attributes?.Id ?? "")), $"ListPodSandboxStats(id {f.PodId})");
        CheckCpu(byId[0].Linux?.Cpu, "linux.cpu");
        CheckMemory(byId[0].Linux?.Memory, "linux.memory");

        var byLabel = await ListPodsAsync(ctx, new PodSandboxStatsFilter { LabelSelector = { [Pods.RunLabel] = f.Run, ["only"] = "other" } });
        Check.Equal(Pods.Show([otherPod]), Pods.Show(byLabel.Select(s => s.Attributes?.Id ?? "")), "ListPodSandboxStats(label only=other)");

        var byRun = await ListPodsAsync(ctx, new PodSandboxStatsFilter { LabelSelector = { [Pods.RunLabel] = f.Run } });
        Check.Equal(Pods.Show(new[] { f.PodId, otherPod }.Order()), Pods.Show(byRun.Select(s => s.Attributes?.Id ?? "").Order()), "ListPodSandboxStats(run label)");
    }

    [Case("ListMetricDescriptors names each metric once, with help and label keys")]
    public async Task ListMetricDescriptors(CaseContext ctx)
    {
        var r = await ctx.Runtime.ListMetricDescriptorsAsync(new ListMetricDescriptorsRequest(), ctx.Options);
        Check.True(r.Descriptors.Count > 0, "no metric descriptors");
        var duplicates = r.Descriptors.GroupBy(d => d.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Check.True(duplicates.Count == 0, $"descriptors named more than once: {Pods.Show(duplicates)}");
        foreach (var d in r.Descriptors)
        {
            Check.True(System.Text.RegularExpressions.Regex.IsMatch(d.Name, "^[a-zA-Z_:][a-zA-Z0-9_:]*$"), $"descriptor name '{d.Name}' is not a Prometheus metric name");
            Check.NotEmpty(d.Help, $"help of {d.Name}");
        }
    }

    [Case("ListPodSandboxMetrics reports a running pod's container metrics, all of them described")]
    public async Task ListPodSandboxMetrics(CaseContext ctx)
    {
        var f = await StatsFixture.StartAsync(ctx, "pmetrics");
        var id = await f.RunContainerAsync(f.Container("inside"));
        var described = (await ctx.Runtime.ListMetricDescriptorsAsync(new ListMetricDescriptorsRequest(), ctx.Options))
            .Descriptors.ToDictionary(d => d.Name);

        var r = await ctx.Runtime.ListPodSandboxMetricsAsync(new ListPodSandboxMetricsRequest(), ctx.Options);
        var pod = r.PodMetrics.Where(p => p.PodSandboxId == f.PodId).ToList();
        Check.Equal(1, pod.Count, $"entries for pod {f.PodId}");
        var container = pod[0].ContainerMetrics.Where(c => c.ContainerId == id).ToList();
        Check.Equal(1, container.Count, $"container_metrics entries for {id}");
        Check.True(container[0].Metrics.Count > 0, $"no metrics for container {id}");
        foreach (var m in pod[0].Metrics.Concat(container[0].Metrics))
        {
            Check.True(described.TryGetValue(m.Name, out var d), $"metric {m.Name} has no descriptor");
            Check.True(m.Timestamp > 0, $"metric {m.Name} has no timestamp");
            Check.Equal(d!.LabelKeys.Count, m.LabelValues.Count, $"label values of {m.Name} (keys {Pods.Show(d.LabelKeys)})");
        }
    }

    private static void CheckContainerStats(ContainerStats s, string id, ContainerConfig? config)
    {
        var a = Check.NotNull(s.Attributes, "attributes");
        Check.Equal(id, a.Id, "attributes.id");
        if (config != null)
        {
            Check.Equal(config.Metadata.Name, a.Metadata?.Name, "attributes.metadata.name");
            foreach (var (k, v) in config.Labels)
            {
                Check.Equal(v, a.Labels.GetValueOrDefault(k), $"attributes.labels[{k}]");
            }

            foreach (var (k, v) in config.Annotations)
            {
                Check.Equal(v, a.Annotations.GetValueOrDefault(k), $"attributes.annotations[{k}]");
            }
        }

        CheckCpu(s.Cpu, "cpu");
        CheckMemory(s.Memory, "memory");
    }

    private static void CheckCpu(CpuUsage? cpu, string what)
    {
        Check.NotNull(cpu, what);
        CheckTimestamp(cpu!.Timestamp, $"{what}.timestamp");
        Check.NotNull(cpu.UsageCoreNanoSeconds, $"{what}.usage_core_nano_seconds");
    }

    private static void CheckMemory(MemoryUsage? memory, string what)
    {
        Check.NotNull(memory, what);
        CheckTimestamp(memory!.Timestamp, $"{what}.timestamp");
        var ws = Check.NotNull(memory.WorkingSetBytes, $"{what}.working_set_bytes");
        Check.True(ws.Value > 0, $"{what}.working_set_bytes is 0 for a running process");
    }

    /// <summary>A Unix time in nanoseconds within a minute of now.</summary>
    private static void CheckTimestamp(long nanos, string what)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000L;
        Check.True(Math.Abs(nanos - now) < 60_000_000_000L, $"{what} {nanos} is not a Unix time in nanoseconds near now ({now})");
    }

    private static async Task<List<ContainerStats>> ListAsync(CaseContext ctx, ContainerStatsFilter filter) =>
        [.. (await ctx.Runtime.ListContainerStatsAsync(new ListContainerStatsRequest { Filter = filter }, ctx.Options)).Stats];

    private static async Task<List<PodSandboxStats>> ListPodsAsync(CaseContext ctx, PodSandboxStatsFilter filter) =>
        [.. (await ctx.Runtime.ListPodSandboxStatsAsync(new ListPodSandboxStatsRequest { Filter = filter }, ctx.Options)).Stats];
}

/// <summary>
/// GetContainerEvents (the evented PLEG's source): a subscriber sees a container's created, started, stopped and
/// deleted events in that order, each with the pod's status.
/// </summary>
[CaseArea("Events")]
public sealed class EventsCases
{
    [Case("GetContainerEvents delivers created, started, stopped and deleted for a container, with the pod status")]
    public async Task Lifecycle(CaseContext ctx)
    {
        var f = await StatsFixture.StartAsync(ctx, "events");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.CancellationToken);
        using var call = ctx.Runtime.GetContainerEvents(new GetEventsRequest(), new CallOptions(deadline: ctx.Deadline, cancellationToken: stop.Token));
        // Servers may send the headers only with the first event (grpc-go does); the subscription exists by
        // the time the call is accepted, so a short wait is enough either way. An unimplemented RPC fails here.
        var headers = call.ResponseHeadersAsync;
        if (await Task.WhenAny(headers, Task.Delay(TimeSpan.FromSeconds(2), ctx.CancellationToken)) == headers)
        {
            await headers;
        }

        var events = new List<ContainerEventResponse>();
        string id = "";
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in call.ResponseStream.ReadAllAsync(stop.Token))
                {
                    lock (events)
                    {
                        events.Add(e);
                    }
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        });

        id = await f.RunContainerAsync(f.Container("observed"));
        await ctx.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 0 }, ctx.Options);
        await ctx.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id }, ctx.Options);

        var expected = new[]
        {
            ContainerEventType.ContainerCreatedEvent, ContainerEventType.ContainerStartedEvent,
            ContainerEventType.ContainerStoppedEvent, ContainerEventType.ContainerDeletedEvent,
        };
        List<ContainerEventResponse> mine;
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            if (reader.IsFaulted)
            {
                await reader; // surfaces the stream's error
            }

            lock (events)
            {
                mine = events.Where(e => e.ContainerId == id).ToList();
            }

            if (mine.Count >= expected.Length || DateTime.UtcNow > until)
            {
                break;
            }

            await Task.Delay(50, ctx.CancellationToken);
        }

        stop.Cancel();
        await reader;
        Check.Equal(string.Join(", ", expected), string.Join(", ", mine.Select(e => e.ContainerEventType)), $"events of container {id}");
        for (var i = 0; i < mine.Count; i++)
        {
            var e = mine[i];
            Check.Equal(f.PodId, e.PodSandboxStatus?.Id, $"{e.ContainerEventType}.pod_sandbox_status.id");
            Check.Equal(f.PodConfig.Metadata.Uid, e.PodSandboxStatus?.Metadata?.Uid, $"{e.ContainerEventType}.pod_sandbox_status.metadata.uid");
            Check.True(e.CreatedAt > 0 && (i == 0 || e.CreatedAt >= mine[i - 1].CreatedAt), $"{e.ContainerEventType}.created_at {e.CreatedAt} is not after the previous event's");
        }

        var states = new[] { ContainerState.ContainerCreated, ContainerState.ContainerRunning, ContainerState.ContainerExited };
        for (var i = 0; i < states.Length; i++)
        {
            var status = mine[i].ContainersStatuses.FirstOrDefault(c => c.Id == id);
            Check.Equal(states[i], status?.State, $"{mine[i].ContainerEventType}: state of {id} in containers_statuses");
        }
    }
}

/// <summary>
/// A pod with the busybox test image pulled, whose containers run <c>sleep</c> and are RUNNING when returned. Like
/// kubelet, it gives every pod a cgroup parent (runtimes such as containerd read pod-level stats from it); the
/// pod's cgroup directories left on the host are removed after the case.
/// </summary>
internal sealed class StatsFixture
{
    private readonly CaseContext _ctx;

    private StatsFixture(CaseContext ctx, string run, string image)
    {
        _ctx = ctx;
        Run = run;
        Image = image;
    }

    public string Run { get; }
    public string Image { get; }
    public PodSandboxConfig PodConfig { get; private set; } = null!;
    public string PodId { get; private set; } = "";

    public static async Task<StatsFixture> StartAsync(CaseContext ctx, string name)
    {
        var image = ctx.Registry.Image("busybox:latest");
        await ctx.PullAsync(image);
        var f = new StatsFixture(ctx, Pods.Token(), image);
        f.PodConfig = await f.NewPodConfigAsync(name);
        f.PodId = await ctx.RunPodAsync(f.PodConfig);
        return f;
    }

    /// <summary>Another pod config of this run, with its own cgroup parent.</summary>
    public async Task<PodSandboxConfig> NewPodConfigAsync(string name)
    {
        var config = Pods.NewPodConfig(name, Run);
        config.Linux.CgroupParent = await CgroupParentAsync(_ctx, config.Metadata.Uid);
        return config;
    }

    public ContainerConfig Container(string name) => Pods.NewContainerConfig(name, Image, Run, "sleep", "3600");

    /// <summary>Creates and starts the container in this fixture's pod and waits until it is RUNNING.</summary>
    public async Task<string> RunContainerAsync(ContainerConfig config)
    {
        var id = await _ctx.CreateContainerAsync(PodId, PodConfig, config);
        await _ctx.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, _ctx.Options);
        await _ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, TimeSpan.FromSeconds(15));
        return id;
    }

    /// <summary>
    /// A pod cgroup parent in the runtime's cgroup driver syntax (a systemd slice or a cgroupfs path; runtimes without
    /// RuntimeConfig are taken to use cgroupfs). Registered for removal before the pod exists, so it is removed after it.
    /// </summary>
    private static async Task<string> CgroupParentAsync(CaseContext ctx, string uid)
    {
        var driver = CgroupDriver.Cgroupfs;
        try
        {
            driver = (await ctx.Runtime.RuntimeConfigAsync(new RuntimeConfigRequest(), ctx.Options)).Linux?.CgroupDriver ?? driver;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
        {
        }

        var token = uid.Replace("-", "_");
        var (parent, dirs) = driver == CgroupDriver.Systemd
            ? ($"cri_conformance-pod{token}.slice", new[] { $"/cri_conformance.slice/cri_conformance-pod{token}.slice", "/cri_conformance.slice" })
            : ($"/cri-conformance/pod{token}", new[] { $"/cri-conformance/pod{token}", "/cri-conformance" });
        ctx.Defer($"remove cgroup {parent}", _ =>
        {
            foreach (var mount in CgroupMounts())
            {
                foreach (var dir in dirs)
                {
                    RemoveCgroupTree(mount + dir);
                }
            }

            return Task.CompletedTask;
        });
        return parent;
    }

    /// <summary>Mount points of the cgroup (v1) and cgroup2 file systems, from /proc/self/mountinfo.</summary>
    private static IEnumerable<string> CgroupMounts()
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var parts = line.Split(" - ", 2);
            var fields = parts[0].Split(' ');
            if (parts.Length == 2 && fields.Length > 4 && parts[1].Split(' ')[0] is "cgroup" or "cgroup2")
            {
                yield return fields[4].Replace("\\040", " ");
            }
        }
    }

    /// <summary>Removes an empty cgroup directory tree; busy or missing ones are left alone.</summary>
    private static void RemoveCgroupTree(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return;
        }

        try
        {
            foreach (var child in Directory.EnumerateDirectories(dir))
            {
                RemoveCgroupTree(child);
            }

            Directory.Delete(dir);
        }
        catch (IOException)
        {
            // Still in use (another pod of a concurrent run) or already gone.
        }
    }
}
