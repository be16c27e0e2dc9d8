using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;
using static CriSharp.Conformance.Cases.CritestContainerSupport;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Container": container lifecycle, ExecSync (also with a timeout), container stats,
/// host-path volumes (also through a symlink) and container logs (also reopened), with the requests
/// critest makes: its pods (<c>create-PodSandbox-for-container-UUID</c>, <c>PodSandbox-with-log-directory-UUID</c>),
/// its busybox running <c>top</c> or <c>sh -c top</c>, attempt 2.
/// </summary>
[CaseArea("critest Container")]
public sealed class CritestContainerCases
{
    private const string Basic = "runtime should support basic operations on container :: ";
    private const string Volume = "runtime should support adding volume and device :: ";
    private const string Log = "runtime should support log :: ";

    [Case(Basic + "runtime should support creating container [Conformance]")]
    public async Task Creating(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateDefaultContainerAsync(podId, podConfig, "container-for-create-");
        var listed = await ListContainersByIdAsync(ctx, id);
        Check.True(listed.Any(c => c.Id == id), $"ListContainers(id {id}) does not list the created container: {Pods.Show(listed.Select(c => c.Id))}");
    }

    [Case(Basic + "runtime should support preserving container attributes [Conformance]")]
    public async Task PreservingAttributes(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var name = "container-with-attributes-" + Framework.Critest.Uuid();
        var labels = new Dictionary<string, string>
        {
            ["foo"] = "bar",
            ["io.kubernetes.container.name"] = name,
            ["io.kubernetes.pod.name"] = "fake-pod-name",
            ["io.kubernetes.pod.namespace"] = "fake-pod-namespace",
            ["io.kubernetes.pod.uid"] = "fake-pod-uid",
        };
        var annotations = new Dictionary<string, string> { ["abc"] = "def" };
        // critest sends no command and no Linux config here.
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name, Attempt = Framework.Critest.Attempt },
            Image = new ImageSpec { Image = ctx.Image(CritestImages.Busybox) },
            Labels = { labels },
            Annotations = { annotations },
        };
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);

        var status = await ctx.ContainerStatusAsync(id);
        Check.Equal(name, status.Metadata?.Name, "ContainerStatus metadata.name");
        Check.Equal(Framework.Critest.Attempt, status.Metadata?.Attempt, "ContainerStatus metadata.attempt");
        CheckSubset(labels, status.Labels, "ContainerStatus labels");
        CheckSubset(annotations, status.Annotations, "ContainerStatus annotations");

        var listed = await ListContainersByIdAsync(ctx, id);
        Check.Equal(1, listed.Count, $"ListContainers(id {id}) entries");
        var c = listed[0];
        Check.Equal(name, c.Metadata?.Name, "ListContainers metadata.name");
        Check.Equal(Framework.Critest.Attempt, c.Metadata?.Attempt, "ListContainers metadata.attempt");
        CheckSubset(labels, c.Labels, "ListContainers labels");
        CheckSubset(annotations, c.Annotations, "ListContainers annotations");
    }

    [Case(Basic + "runtime should support starting container [Conformance]")]
    public async Task Starting(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateDefaultContainerAsync(podId, podConfig, "container-for-start-test-");
        await StartRunningAsync(ctx, id);
    }

    [Case(Basic + "runtime should support stopping container [Conformance]")]
    public async Task Stopping(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateDefaultContainerAsync(podId, podConfig, "container-for-stop-test-");
        await ctx.StartAsync(id);
        await StopExitedAsync(ctx, id);
    }

    [Case(Basic + "runtime should support removing created container [Conformance]")]
    public async Task RemovingCreated(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, PauseContainer(ctx, "container-for-remove-created-test-"));
        await RemoveAndCheckGoneAsync(ctx, id);
    }

    [Case(Basic + "runtime should support removing running container [Conformance]")]
    public async Task RemovingRunning(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, PauseContainer(ctx, "container-for-remove-running-test-"));
        await ctx.StartAsync(id);
        await RemoveAndCheckGoneAsync(ctx, id);
    }

    [Case(Basic + "runtime should support removing stopped container [Conformance]")]
    public async Task RemovingStopped(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, PauseContainer(ctx, "container-for-remove-stopped-test-"));
        await ctx.StartAsync(id);
        await StopExitedAsync(ctx, id);
        await RemoveAndCheckGoneAsync(ctx, id);
    }

    [Case(Basic + "runtime should support execSync [Conformance]")]
    public async Task ExecSync(CaseContext ctx)
    {
        var id = await StartedDefaultContainerAsync(ctx, "container-for-execSync-test-");
        var stdout = await ExecSyncContainerAsync(ctx, id, "echo", "-n", "hello");
        Check.Equal("hello", stdout, "stdout of ExecSync(echo -n hello)");
    }

    [Case(Basic + "runtime should support execSync with timeout [Conformance]")]
    public async Task ExecSyncWithTimeout(CaseContext ctx)
    {
        var id = await StartedDefaultContainerAsync(ctx, "container-for-execSync-timeout-test-");

        // A client sees an error either as a failed call or (kubelet's client) as a non-zero exit code.
        string outcome;
        try
        {
            var r = await ctx.ExecAsync(id, 1, "sleep", "4321");
            outcome = r.ExitCode == 0 ? "" : $"exit code {r.ExitCode}";
        }
        catch (RpcException e) when (e.StatusCode is not (StatusCode.Cancelled) && !ctx.CancellationToken.IsCancellationRequested)
        {
            outcome = $"{e.StatusCode}";
        }

        Check.True(outcome.Length > 0, "ExecSync(sleep 4321) with timeout 1 s succeeded; it should time out");

        // The timed-out process must be gone once ExecSync has returned.
        var stdout = await ExecSyncContainerAsync(ctx, id, "sh", "-c", "pgrep sleep || true");
        Check.Equal("", stdout.Trim(), $"pgrep sleep after the timed-out ExecSync ({outcome})");
    }

    [Case(Basic + "runtime should support listing container stats [Conformance]")]
    public async Task ListingContainerStats(CaseContext ctx)
    {
        var id = await StartedDefaultContainerAsync(ctx, "container-for-stats-");
        var r = await ctx.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = id }, ctx.Options);
        var stats = Check.NotNull(r.Stats, $"ContainerStats({id}).stats");
        Check.Equal(id, stats.Attributes?.Id, "stats attributes.id");
        var name = stats.Attributes?.Metadata?.Name ?? "";
        Check.True(name.Contains("container-for-stats-", StringComparison.Ordinal), $"stats attributes.metadata.name '{name}' does not contain 'container-for-stats-'");
        Check.True((stats.Cpu?.Timestamp ?? 0) != 0, "stats cpu.timestamp is zero or cpu is missing");
        Check.True((stats.Memory?.Timestamp ?? 0) != 0, "stats memory.timestamp is zero or memory is missing");
    }

    [Case(Basic + "runtime should support listing stats for started containers [Conformance]")]
    public async Task ListStatsStarted(CaseContext ctx)
    {
        var id = await StartedDefaultContainerAsync(ctx, "container-for-stats-");
        var stats = await ListStatsAsync(ctx, new ContainerStatsFilter { Id = id });
        CheckStatsListed(stats, id, "ListContainerStats(filter id)");
    }

    [Case(Basic + "runtime should support listing stats for started containers when filter is nil [Conformance]")]
    public async Task ListStatsNilFilter(CaseContext ctx)
    {
        var id = await StartedDefaultContainerAsync(ctx, "container-for-stats-with-nil-filter-");
        CheckStatsListed(await ListStatsAsync(ctx, null), id, "ListContainerStats(no filter)");
    }

    [Case(Basic + "runtime should support listing stats for three created containers when filter is nil. [Conformance]")]
    public async Task ListStatsThree(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await ctx.CreateDefaultContainerAsync(podId, podConfig, "container-for-stats-with-nil-filter-"));
        }

        foreach (var id in ids)
        {
            await ctx.StartAsync(id);
        }

        var stats = await ListStatsAsync(ctx, null);
        foreach (var id in ids)
        {
            CheckStatsListed(stats, id, "ListContainerStats(no filter)");
        }
    }

    [Case(Basic + "runtime should support listing stats for containers filtered by labels [Conformance]")]
    public async Task ListStatsByLabels(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var config = Framework.Critest.ContainerConfig("container-for-stats-with-labels-", ctx.Image(CritestImages.Busybox));
        config.Labels["foo"] = "bar";
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await ctx.StartAsync(id);

        var matching = await ListStatsAsync(ctx, new ContainerStatsFilter { LabelSelector = { ["foo"] = "bar" } });
        CheckStatsListed(matching, id, "ListContainerStats(label_selector foo=bar)");
        var other = await ListStatsAsync(ctx, new ContainerStatsFilter { LabelSelector = { ["foo"] = "baz" } });
        Check.True(other.All(s => s.Attributes?.Id != id), $"ListContainerStats(label_selector foo=baz) lists container {id}, whose label is foo=bar");
    }

    [Case(Volume + "runtime should support starting container with volume [Conformance]")]
    public async Task WithVolume(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var hostPath = HostPathWithFlagFile(ctx, podId);
        await StartVolumeContainerAsync(ctx, podId, podConfig, "container-with-volume-test-", hostPath);
    }

    [Case(Volume + "runtime should support starting container with volume when host path is a symlink [Conformance]")]
    public async Task WithSymlinkVolume(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var hostPath = HostPathWithFlagFile(ctx, podId);
        var symlink = Symlink(ctx, hostPath);
        await StartVolumeContainerAsync(ctx, podId, podConfig, "container-with-symlink-host-path-test-", symlink);
    }

    [Case(Log + "runtime should support starting container with log [Conformance]")]
    public async Task WithLog(CaseContext ctx)
    {
        var podConfig = await PodConfigWithLogDirectoryAsync(ctx, "PodSandbox-with-log-directory-");
        var podId = await ctx.RunCritestPodAsync(podConfig);
        var (id, logPath) = await CreateLogContainerAsync(ctx, podId, podConfig, "container-with-log-test-", "echo", DefaultLog);
        await ctx.StartAsync(id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);

        var lines = await ReadLogAsync(ctx, logPath);
        Check.True(lines.Any(l => l.Stream == "stdout" && l.Content == DefaultLog),
            $"{logPath} has no stdout line '{DefaultLog}': [{string.Join(" | ", lines.Select(l => $"{l.Stream} {l.Tag} {l.Content}"))}]");
    }

    [Case(Log + "runtime should support reopening container log [Conformance]")]
    public async Task ReopeningLog(CaseContext ctx)
    {
        var podConfig = await PodConfigWithLogDirectoryAsync(ctx, "PodSandbox-with-log-directory-");
        var podId = await ctx.RunCritestPodAsync(podConfig);
        var (id, logPath) = await CreateLogContainerAsync(ctx, podId, podConfig, "container-reopen-log-test-",
            "sh", "-c", $"while true; do echo {DefaultLog}; sleep 1; done");
        await ctx.StartAsync(id);
        await WaitLogLinesAsync(ctx, logPath, $"container log {logPath} has a line");

        var renamed = logPath + ".new";
        File.Move(logPath, renamed);
        await ctx.Runtime.ReopenContainerLogAsync(new ReopenContainerLogRequest { ContainerId = id }, ctx.Options);
        Check.True(File.Exists(logPath), $"ReopenContainerLog returned but {logPath} does not exist (the new log file should be created)");
        await WaitLogLinesAsync(ctx, logPath, $"new container log {logPath} has a line");

        var oldCount = (await ReadLogAsync(ctx, renamed)).Count;
        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ctx.CancellationToken);
            var now = (await ReadLogAsync(ctx, renamed)).Count;
            Check.Equal(oldCount, now, $"lines in the old (renamed) log {renamed} {i + 1} s after ReopenContainerLog");
        }
    }

    private static async Task<string> StartedDefaultContainerAsync(CaseContext ctx, string prefix)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateDefaultContainerAsync(podId, podConfig, prefix);
        await ctx.StartAsync(id);
        return id;
    }

    private static async Task RemoveAndCheckGoneAsync(CaseContext ctx, string id)
    {
        await ctx.RemoveAsync(id);
        var listed = await ListContainersByIdAsync(ctx, id);
        Check.True(listed.All(c => c.Id != id), $"ListContainers(id {id}) still lists the removed container");
    }

    private static async Task<IReadOnlyList<ContainerStats>> ListStatsAsync(CaseContext ctx, ContainerStatsFilter? filter)
    {
        var request = new ListContainerStatsRequest();
        if (filter is not null) request.Filter = filter;
        return (await ctx.Runtime.ListContainerStatsAsync(request, ctx.Options)).Stats;
    }

    private static void CheckStatsListed(IReadOnlyList<ContainerStats> stats, string id, string what) =>
        Check.True(stats.Any(s => s.Attributes?.Id == id), $"{what} has no stats for container {id}: {Pods.Show(stats.Select(s => s.Attributes?.Id ?? "?"))}");

    /// <summary>critest's volume source: a host temp dir holding an empty file <c>testVolume.file</c>.</summary>
    private static string HostPathWithFlagFile(CaseContext ctx, string podId)
    {
        var hostPath = HostDirectory(ctx, podId);
        File.Create(Path.Combine(hostPath, "testVolume.file")).Dispose();
        return hostPath;
    }

    /// <summary>A <c>sh -c top</c> container with <paramref name="hostPath"/> mounted at the same path; started, then <c>ls -A</c> of the path must list something.</summary>
    private static async Task StartVolumeContainerAsync(CaseContext ctx, string podId, PodSandboxConfig podConfig, string prefix, string hostPath)
    {
        var config = PauseContainer(ctx, prefix);
        config.Linux = null; // critest sends no Linux config here
        config.Mounts.Add(new Mount { HostPath = hostPath, ContainerPath = hostPath, SelinuxRelabel = true });
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await StartRunningAsync(ctx, id);
        var listing = await ExecSyncContainerAsync(ctx, id, "ls", "-A", hostPath);
        Check.True(listing.Length > 0, $"ls -A {hostPath} in the container printed nothing: the volume does not show the host directory");
    }

    /// <summary>A busybox container logging to <c>NAME.log</c> in the pod's log directory; returns its id and the log file's host path.</summary>
    private static async Task<(string Id, string LogPath)> CreateLogContainerAsync(CaseContext ctx, string podId, PodSandboxConfig podConfig,
        string prefix, params string[] command)
    {
        var config = Framework.Critest.ContainerConfig(prefix, ctx.Image(CritestImages.Busybox), command);
        config.Linux = null; // critest sends no Linux config here
        config.LogPath = config.Metadata.Name + ".log";
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        return (id, Path.Combine(podConfig.LogDirectory, config.LogPath));
    }
}
