using System.Diagnostics;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// Container lifecycle: create, start, exit, stop, remove, their idempotence, ListContainers filters,
/// CRI-format logs, and which network namespace a container gets. Containers run the busybox test image
/// (pulled through the ImageService from <c>--test-registry</c> and removed afterwards); every pod is
/// removed after its case. Namespaces are compared through the container's own log
/// (<c>readlink /proc/self/ns/net</c>), so no exec is needed; the runner must run on the runtime's host.
/// </summary>
[CaseArea("Container")]
public sealed class ContainerCases
{
    private static readonly TimeSpan StateWait = TimeSpan.FromSeconds(15);

    [Case("CreateContainer: CREATED, with metadata, labels, annotations, image and log path")]
    public async Task Create(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "create");
        var config = f.Container("created", "sleep", "3600");
        config.Metadata.Attempt = 3;
        config.Labels["tier"] = "conformance";
        config.Annotations["example.com/note"] = "a value with spaces, = and \"quotes\"";
        config.LogPath = "created.log";
        var before = NowNanos() - 5_000_000_000L;
        var id = await f.CreateAsync(config);

        var s = await ctx.ContainerStatusAsync(id);
        Check.Equal(id, s.Id, "ContainerStatus id");
        Check.Equal(ContainerState.ContainerCreated, s.State, "state");
        Check.Equal(config.Metadata.Name, s.Metadata?.Name, "metadata.name");
        Check.Equal(config.Metadata.Attempt, s.Metadata?.Attempt, "metadata.attempt");
        Check.True(s.CreatedAt > before, $"created_at {s.CreatedAt} is not a Unix time in nanoseconds of now");
        Check.Equal(0L, s.StartedAt, "started_at of a container never started");
        CheckMap(config.Labels, s.Labels, "labels");
        CheckMap(config.Annotations, s.Annotations, "annotations");
        // kubelet reads the log from ContainerStatus.log_path, so it is the file's full path.
        Check.Equal(Path.Combine(f.LogDirectory, config.LogPath), s.LogPath, "log_path");
        // image_ref is the image id or (containerd) a digested reference; either way it names the pulled image.
        Check.NotEmpty(s.ImageRef, "image_ref");
        var byRef = (await ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = s.ImageRef } }, ctx.Options)).Image;
        Check.Equal(f.ImageId, byRef?.Id, $"id of the image ImageStatus({s.ImageRef}) finds (image_ref)");

        var listed = await ListAsync(ctx, new ContainerFilter { Id = id });
        Check.Equal(1, listed.Count, $"ListContainers(id {id}) entries");
        var c = listed[0];
        Check.Equal(f.PodId, c.PodSandboxId, "ListContainers pod_sandbox_id");
        Check.Equal(ContainerState.ContainerCreated, c.State, "ListContainers state");
        Check.Equal(config.Metadata.Name, c.Metadata?.Name, "ListContainers metadata.name");
        Check.Equal(config.Metadata.Attempt, c.Metadata?.Attempt, "ListContainers metadata.attempt");
        Check.Equal(s.CreatedAt, c.CreatedAt, "ListContainers created_at vs ContainerStatus created_at");
        CheckMap(config.Labels, c.Labels, "ListContainers labels");
        CheckMap(config.Annotations, c.Annotations, "ListContainers annotations");
    }

    // image_id was added to Container and ContainerStatus in CRI v1.30 (kubernetes#123508, #123583):
    // the image id as the image service reports it, whatever image_ref holds.
    [Case("ContainerStatus and ListContainers report image_id = the pulled image id")]
    public async Task ImageId(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "image-id");
        var id = await f.CreateAsync(f.Container("image-id", "sleep", "3600"));
        Check.Equal(f.ImageId, (await ctx.ContainerStatusAsync(id)).ImageId, "ContainerStatus image_id");
        var listed = await ListAsync(ctx, new ContainerFilter { Id = id });
        Check.Equal(1, listed.Count, $"ListContainers(id {id}) entries");
        Check.Equal(f.ImageId, listed[0].ImageId, "ListContainers image_id");
    }

    [Case("StartContainer: RUNNING with started_at")]
    public async Task Start(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "start");
        var id = await f.CreateAsync(f.Container("running", "sleep", "3600"));
        var created = (await ctx.ContainerStatusAsync(id)).CreatedAt;
        await StartAsync(ctx, id);
        var s = await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);
        Check.True(s.StartedAt >= created, $"started_at {s.StartedAt} is before created_at {created}");
        Check.Equal(0L, s.FinishedAt, "finished_at of a running container");
        var listed = await ListAsync(ctx, new ContainerFilter { Id = id });
        Check.True(listed.Count == 1 && listed[0].State == ContainerState.ContainerRunning,
            $"ListContainers(id {id}): {string.Join(", ", listed.Select(c => $"{c.Id} {c.State}"))}");
    }

    [Case("A container that exits 3 is EXITED with exit_code 3 and its stdout in a CRI log")]
    public async Task ExitCodeAndLog(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "exit");
        var config = f.Container("exits", "sh", "-c", "echo hello; exit 3");
        config.LogPath = "exits.log";
        var id = await f.CreateAsync(config);
        await StartAsync(ctx, id);

        var s = await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
        Check.Equal(3, s.ExitCode, "exit_code");
        Check.True(s.StartedAt > 0, $"started_at {s.StartedAt}");
        Check.True(s.FinishedAt > 0, $"finished_at {s.FinishedAt}");

        var path = Path.Combine(f.LogDirectory, config.LogPath);
        var lines = await ctx.WaitLogAsync(path, l => l.Any(x => x.Stream == "stdout" && x.Tag == "F"), TimeSpan.FromSeconds(5));
        var hello = lines.Where(l => l.Stream == "stdout").ToList();
        Check.True(hello.Count == 1 && hello[0].Tag == "F" && hello[0].Content == "hello",
            $"{path}: stdout lines {string.Join(" | ", hello.Select(l => $"{l.Tag} '{l.Content}'"))}, want one full line 'hello'");
        var startedAt = DateTimeOffset.FromUnixTimeMilliseconds(s.StartedAt / 1_000_000);
        Check.True(hello[0].Time >= startedAt.AddSeconds(-5) && hello[0].Time <= DateTimeOffset.UtcNow.AddSeconds(5),
            $"{path}: timestamp {hello[0].Time:O} is far from the container's start {startedAt:O}");
    }

    // A process that exits within a millisecond of its start is where runtimes get this wrong: the start
    // time taken after the OCI runtime's start returns can be later than the exit time taken by the monitor.
    [Case("finished_at is not before started_at, also for containers that exit at once")]
    public async Task FinishedAfterStarted(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "times");
        for (var i = 0; i < 5; i++)
        {
            var id = await f.CreateAsync(f.Container($"quick-{i}", "sh", "-c", "exit 3"));
            await StartAsync(ctx, id);
            var s = await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
            Check.True(s.StartedAt > 0 && s.FinishedAt >= s.StartedAt,
                $"container {i + 1} of 5: finished_at {s.FinishedAt} is before started_at {s.StartedAt} (by {(s.StartedAt - s.FinishedAt) / 1000} µs)");
        }
    }

    // `sleep` as PID 1 ignores SIGTERM (no handler), so this also checks the kill after the grace period.
    [Case("StopContainer with a timeout stops a running container: EXITED")]
    public async Task Stop(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "stop");
        var id = await f.CreateAsync(f.Container("sleeper", "sleep", "3600"));
        await StartAsync(ctx, id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);

        var sw = Stopwatch.StartNew();
        await StopAsync(ctx, id, 2);
        sw.Stop();
        Check.True(sw.Elapsed < TimeSpan.FromSeconds(12), $"StopContainer(timeout 2) took {sw.Elapsed.TotalSeconds:F1} s");
        var s = await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
        Check.True(s.FinishedAt >= s.StartedAt && s.StartedAt > 0, $"finished_at {s.FinishedAt} / started_at {s.StartedAt}");
    }

    [Case("StopContainer twice succeeds")]
    public async Task StopTwice(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "stop-twice");
        var id = await f.CreateAsync(f.Container("sleeper", "sleep", "3600"));
        await StartAsync(ctx, id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);
        await StopAsync(ctx, id, 0);
        await StopAsync(ctx, id, 0);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
    }

    [Case("RemoveContainer removes it: not listed, status NOT_FOUND")]
    public async Task Remove(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "remove");
        var id = await f.CreateAsync(f.Container("removed", "sleep", "3600"));
        await StartAsync(ctx, id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);
        await StopAsync(ctx, id, 0);
        await RemoveAsync(ctx, id);
        await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.ContainerStatusAsync(id), $"ContainerStatus({id}) after RemoveContainer");
        Check.Equal(0, (await ListAsync(ctx, new ContainerFilter { Id = id })).Count, $"ListContainers(id {id}) entries after RemoveContainer");
        Check.True((await ListAsync(ctx, null)).All(c => c.Id != id), $"ListContainers still lists the removed container {id}");
    }

    // api.proto: "If the container is running, the container must be forcibly removed."
    [Case("RemoveContainer of a running container succeeds")]
    public async Task RemoveRunning(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "remove-running");
        var id = await f.CreateAsync(f.Container("running", "sleep", "3600"));
        await StartAsync(ctx, id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);
        await RemoveAsync(ctx, id);
        await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.ContainerStatusAsync(id), $"ContainerStatus({id}) after RemoveContainer");
    }

    [Case("RemoveContainer twice succeeds")]
    public async Task RemoveTwice(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "remove-twice");
        var id = await f.CreateAsync(f.Container("removed", "sleep", "3600"));
        await RemoveAsync(ctx, id);
        await RemoveAsync(ctx, id);
        Check.Equal(0, (await ListAsync(ctx, new ContainerFilter { Id = id })).Count, $"ListContainers(id {id}) entries after RemoveContainer");
    }

    // critest Idempotence "StopContainer should not return an error if not found" (cri-tools#1536);
    // containerd fixed this in 2.0 and on release/1.6 with containerd#10521's backport (after 1.6.20).
    [Case("StopContainer of an unknown id succeeds")]
    public async Task StopUnknown(CaseContext ctx) => await StopAsync(ctx, PodCases.UnknownId(), 0);

    [Case("RemoveContainer of an unknown id succeeds")]
    public async Task RemoveUnknown(CaseContext ctx) => await RemoveAsync(ctx, PodCases.UnknownId());

    [Case("ContainerStatus of an unknown id fails with NOT_FOUND")]
    public async Task StatusUnknown(CaseContext ctx)
    {
        var id = PodCases.UnknownId();
        await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.ContainerStatusAsync(id), $"ContainerStatus({id})");
    }

    [Case("ListContainers filters by id, pod, state and label selector")]
    public async Task ListFilters(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "filter");
        var cc = f.Container("created", "sleep", "3600");
        cc.Labels["which"] = "a";
        var created = await f.CreateAsync(cc);
        var rc = f.Container("running", "sleep", "3600");
        rc.Labels["which"] = "b";
        var running = await f.CreateAsync(rc);
        await StartAsync(ctx, running);
        await ctx.WaitContainerStateAsync(running, ContainerState.ContainerRunning, StateWait);

        // A second pod of the same run, with one container.
        var other = f.NewPodConfig("filter-other");
        var otherPod = await ctx.RunPodAsync(other);
        var oc = f.Container("other", "sleep", "3600");
        oc.Labels["which"] = "a";
        var otherContainer = await ctx.CreateContainerAsync(otherPod, other, oc);

        async Task Expect(ContainerFilter filter, string what, params string[] want)
        {
            var got = (await ListAsync(ctx, filter)).Select(c => c.Id).Order().ToList();
            Check.True(got.SequenceEqual(want.Order()), $"ListContainers({what}) returned {Pods.Show(got)}, want {Pods.Show(want)}");
        }

        var run = new Dictionary<string, string> { [Pods.RunLabel] = f.Run };
        ContainerFilter Labels(params (string Key, string Value)[] extra)
        {
            var filter = new ContainerFilter { LabelSelector = { run } };
            foreach (var (k, v) in extra)
            {
                filter.LabelSelector[k] = v;
            }

            return filter;
        }

        var all = (await ListAsync(ctx, null)).Select(c => c.Id).ToList();
        Check.True(new[] { created, running, otherContainer }.All(all.Contains), $"unfiltered ListContainers {Pods.Show(all)} lacks one of {created}, {running}, {otherContainer}");
        await Expect(new ContainerFilter { Id = created }, $"id {created}", created);
        await Expect(new ContainerFilter { Id = running }, $"id {running}", running);
        await Expect(new ContainerFilter { PodSandboxId = f.PodId }, $"pod {f.PodId}", created, running);
        await Expect(new ContainerFilter { PodSandboxId = otherPod }, $"pod {otherPod}", otherContainer);
        await Expect(Labels(), "run label", created, running, otherContainer);
        await Expect(Labels(("which", "a")), "run label and which=a", created, otherContainer);
        await Expect(Labels(("which", "c")), "run label and which=c");
        var withState = Labels();
        withState.State = new ContainerStateValue { State = ContainerState.ContainerRunning };
        await Expect(withState, "run label, RUNNING", running);
        withState.State = new ContainerStateValue { State = ContainerState.ContainerCreated };
        await Expect(withState, "run label, CREATED", created, otherContainer);
        await Expect(new ContainerFilter { PodSandboxId = f.PodId, State = new ContainerStateValue { State = ContainerState.ContainerCreated } }, $"pod {f.PodId}, CREATED", created);
        var podAndLabel = new ContainerFilter { PodSandboxId = f.PodId, LabelSelector = { ["which"] = "a" } };
        await Expect(podAndLabel, $"pod {f.PodId}, which=a", created);
        await Expect(new ContainerFilter { Id = running, PodSandboxId = otherPod }, $"id {running}, pod {otherPod}");
    }

    // api.proto: StopPodSandbox "If there are any running containers in the sandbox, they must be forcibly terminated."
    [Case("StopPodSandbox stops its running containers")]
    public async Task StopPodStopsContainers(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "stop-pod");
        var id = await f.CreateAsync(f.Container("sleeper", "sleep", "3600"));
        await StartAsync(ctx, id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);
        await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = f.PodId }, ctx.Options);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
    }

    // api.proto: RemovePodSandbox "If there are any running containers in the sandbox, they must be
    // forcibly terminated and removed."
    [Case("RemovePodSandbox removes its containers")]
    public async Task RemovePodRemovesContainers(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "remove-pod");
        var running = await f.CreateAsync(f.Container("running", "sleep", "3600"));
        await StartAsync(ctx, running);
        var created = await f.CreateAsync(f.Container("created", "sleep", "3600"));
        await ctx.WaitContainerStateAsync(running, ContainerState.ContainerRunning, StateWait);

        await ctx.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = f.PodId }, ctx.Options);
        foreach (var id in new[] { running, created })
        {
            await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.ContainerStatusAsync(id), $"ContainerStatus({id}) after RemovePodSandbox");
        }

        Check.Equal(0, (await ListAsync(ctx, new ContainerFilter { PodSandboxId = f.PodId })).Count, $"ListContainers(pod {f.PodId}) entries after RemovePodSandbox");
        Check.True((await ListAsync(ctx, null)).All(c => c.Id != running && c.Id != created), "ListContainers still lists containers of the removed pod");
    }

    // What the error is differs (containerd: NOT_FOUND, crisharp: NOT_FOUND, older runtimes: UNKNOWN): only that it fails.
    [Case("CreateContainer in an unknown pod fails")]
    public async Task CreateInUnknownPod(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "unknown-pod");
        var unknown = PodCases.UnknownId();
        try
        {
            var r = await ctx.Runtime.CreateContainerAsync(
                new CreateContainerRequest { PodSandboxId = unknown, Config = f.Container("orphan", "sleep", "3600"), SandboxConfig = f.PodConfig }, ctx.Options);
            ctx.Defer($"remove container {r.ContainerId}", ct => ctx.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = r.ContainerId }, cancellationToken: ct).ResponseAsync);
            throw Check.Fail($"CreateContainer in unknown pod {unknown} succeeded with id {r.ContainerId}");
        }
        catch (RpcException e) when (e.StatusCode is not (StatusCode.DeadlineExceeded or StatusCode.Cancelled))
        {
        }
    }

    [Case("Containers of one pod share a network namespace that is not the host's")]
    public async Task SharedNetNs(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "netns");
        var first = await NetNsOfContainerAsync(ctx, f, "first");
        var second = await NetNsOfContainerAsync(ctx, f, "second");
        Check.Equal(first, second, "network namespace of the second container vs the first");
        var host = HostNetNs();
        Check.True(first != host, $"a container of a pod with network POD is in the host's network namespace {host}");
    }

    [Case("A container in a host-network pod is in the host's network namespace")]
    public async Task HostNetNsCase(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "hostnet", hostNetwork: true);
        var ns = await NetNsOfContainerAsync(ctx, f, "hostnet", NamespaceMode.Node);
        Check.Equal(HostNetNs(), ns, "network namespace of the container vs the runner's (host) one");
    }

    /// <summary>Runs <c>readlink /proc/self/ns/net</c> in a new container of the pod and returns what it logged.</summary>
    private static async Task<string> NetNsOfContainerAsync(CaseContext ctx, Fixture f, string name, NamespaceMode network = NamespaceMode.Pod)
    {
        var config = f.Container(name, "readlink", "/proc/self/ns/net");
        config.Linux.SecurityContext.NamespaceOptions.Network = network;
        config.LogPath = name + ".log";
        var id = await f.CreateAsync(config);
        await StartAsync(ctx, id);
        var s = await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
        Check.Equal(0, s.ExitCode, $"exit code of 'readlink /proc/self/ns/net' in {name}");
        var path = Path.Combine(f.LogDirectory, config.LogPath);
        var lines = await ctx.WaitLogAsync(path, l => l.Any(x => x.Stream == "stdout" && x.Tag == "F"), TimeSpan.FromSeconds(5));
        var ns = lines.First(x => x.Stream == "stdout" && x.Tag == "F").Content;
        Check.True(ns.StartsWith("net:[", StringComparison.Ordinal), $"{name}: readlink /proc/self/ns/net printed '{ns}'");
        return ns;
    }

    private static string HostNetNs() =>
        new FileInfo("/proc/self/ns/net").LinkTarget ?? throw Check.Fail("cannot read the runner's /proc/self/ns/net");

    private static long NowNanos() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;

    private static void CheckMap(IDictionary<string, string> want, IDictionary<string, string> got, string what)
    {
        static string Show(IDictionary<string, string> m) => "{" + string.Join(", ", m.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")) + "}";
        Check.True(want.Count == got.Count && want.All(kv => got.TryGetValue(kv.Key, out var v) && v == kv.Value),
            $"{what}: expected {Show(want)}, got {Show(got)}");
    }

    private static async Task<IReadOnlyList<Container>> ListAsync(CaseContext ctx, ContainerFilter? filter) =>
        (await ctx.Runtime.ListContainersAsync(new ListContainersRequest { Filter = filter }, ctx.Options)).Containers;

    private static async Task StartAsync(CaseContext ctx, string id) =>
        await ctx.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, ctx.Options);

    private static async Task StopAsync(CaseContext ctx, string id, long timeout) =>
        await ctx.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = timeout }, ctx.Options);

    private static async Task RemoveAsync(CaseContext ctx, string id) =>
        await ctx.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id }, ctx.Options);

    /// <summary>The busybox image pulled, a log directory, and a READY pod using it; all undone after the case.</summary>
    private sealed class Fixture
    {
        private readonly CaseContext _ctx;

        private Fixture(CaseContext ctx, string run, string image, string imageId, string logDirectory)
        {
            _ctx = ctx;
            Run = run;
            Image = image;
            ImageId = imageId;
            LogDirectory = logDirectory;
        }

        public string Run { get; }
        public string Image { get; }
        public string ImageId { get; }
        public string LogDirectory { get; }
        public PodSandboxConfig PodConfig { get; private set; } = null!;
        public string PodId { get; private set; } = "";

        public static async Task<Fixture> StartAsync(CaseContext ctx, string name, bool hostNetwork = false)
        {
            var image = ctx.Registry.Image("busybox:latest");
            var imageId = await ctx.PullAsync(image);
            var f = new Fixture(ctx, Pods.Token(), image, imageId, ctx.TempDirectory());
            f.PodConfig = Pods.NewPodConfig(name, f.Run, f.LogDirectory, hostNetwork);
            f.PodId = await ctx.RunPodAsync(f.PodConfig);
            return f;
        }

        /// <summary>Another pod config of this run (same log directory and run label).</summary>
        public PodSandboxConfig NewPodConfig(string name) => Pods.NewPodConfig(name, Run, LogDirectory);

        public ContainerConfig Container(string name, params string[] command) => Pods.NewContainerConfig(name, Image, Run, command);

        public Task<string> CreateAsync(ContainerConfig config) => _ctx.CreateContainerAsync(PodId, PodConfig, config);
    }
}
