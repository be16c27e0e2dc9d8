using System.Diagnostics;
using System.Text.Json;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using CriSharp.TestSupport;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>
/// Daemon restarts on the same root and state dirs: containers outlive the daemon under conmon, the
/// restarted daemon finds them (and exits that happened while it was down), and a crash in the middle of
/// creates leaves nothing half-made. Real runc, conmon and overlayfs; the daemon is stopped with SIGTERM
/// (graceful) or SIGKILL (crash).
/// </summary>
public sealed partial class RecoveryTests(ITestOutputHelper output) : IAsyncLifetime
{
    readonly DaemonProcess _daemon = new();
    readonly List<string> _podCgroups = [];
    RegistryFixture _registry = null!;
    IReadOnlyDictionary<string, BuiltImage> _images = null!;
    GrpcChannel? _channel;
    RuntimeService.RuntimeServiceClient _runtime = null!;
    ImageService.ImageServiceClient _imageClient = null!;

    string Busybox => _images["busybox:latest"].Reference;
    string StateDir => Path.Combine(_daemon.Dir, "state");
    string ContainersStateDir => Path.Combine(StateDir, "containers");
    string PodsStateDir => Path.Combine(StateDir, "pods");
    string ContainersLayerDir => Path.Combine(_daemon.Dir, "root", "containers");

    public async Task InitializeAsync()
    {
        _registry = await RegistryFixture.Anonymous();
        _images = await TestImages.PushDefaultAsync(_registry);
        await StartDaemonAsync();
        await _imageClient.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = Busybox } });
    }

    async Task StartDaemonAsync()
    {
        await _daemon.StartServingAsync();
        _channel?.Dispose();
        _channel = _daemon.Channel();
        _runtime = new RuntimeService.RuntimeServiceClient(_channel);
        _imageClient = new ImageService.ImageServiceClient(_channel);
    }

    /// <summary>SIGTERM: the daemon must exit 0 on its own.</summary>
    async Task StopGracefullyAsync()
    {
        _daemon.Signal(ProcessControl.SIGTERM);
        var code = await _daemon.WaitForExitAsync(TimeSpan.FromSeconds(15));
        Assert.True(code.HasValue, "crisharp did not exit within 15 s of SIGTERM\n" + _daemon.Stderr);
        Assert.Equal(0, code);
    }

    async Task CrashAsync()
    {
        _daemon.Signal(ProcessControl.SIGKILL);
        Assert.NotNull(await _daemon.WaitForExitAsync(TimeSpan.FromSeconds(10)));
    }

    PodSandboxConfig PodConfig(string name) => new()
    {
        Metadata = new PodSandboxMetadata { Name = name, Uid = Guid.NewGuid().ToString(), Namespace = "it" },
        Hostname = name,
        LogDirectory = Path.Combine(_daemon.Dir, "logs", name),
    };

    ContainerConfig ShConfig(string name, string script) => new()
    {
        Metadata = new ContainerMetadata { Name = name },
        Image = new ImageSpec { Image = Busybox },
        Command = { "sh", "-c", script },
        LogPath = $"{name}.log",
    };

    async Task<(string Id, PodSandboxConfig Config, string Cgroup)> RunPodAsync(string name)
    {
        var config = PodConfig(name);
        var id = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var status = await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = id, Verbose = true });
        var cgroup = JsonDocument.Parse(status.Info["info"]).RootElement.GetProperty("cgroupPath").GetString()!;
        Assert.StartsWith("/", cgroup);
        _podCgroups.Add(cgroup);
        return (id, config, cgroup);
    }

    async Task<string> CreateAndStartAsync(string pod, PodSandboxConfig config, string name, string script)
    {
        var id = (await _runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = pod, Config = ShConfig(name, script), SandboxConfig = config,
        })).ContainerId;
        await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    async Task<ContainerStatus> StatusAsync(string id) =>
        (await _runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id })).Status;

    async Task<ContainerStatus> WaitForState(string id, ContainerState state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var s = await StatusAsync(id);
            if (s.State == state) return s;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"container {id} is {s.State}, not {state}\n{_daemon.Stderr}");
            await Task.Delay(100);
        }
    }

    async Task<(int Pid, int ConmonPid)> PidsAsync(string id)
    {
        var r = await _runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true });
        var info = JsonDocument.Parse(r.Info["info"]).RootElement;
        return (info.GetProperty("pid").GetInt32(), info.GetProperty("conmonPid").GetInt32());
    }

    [Fact]
    public async Task Containers_outlive_a_graceful_stop_are_recovered_on_restart_and_still_stop_and_remove_cleanly()
    {
        var (pod, config, cgroup) = await RunPodAsync("survivor");
        var sleeper = await CreateAndStartAsync(pod, config, "sleeper", "sleep 1000");
        var quitter = await CreateAndStartAsync(pod, config, "quitter", "sleep 0.3; exit 7");
        await WaitForState(sleeper, ContainerState.ContainerRunning);
        var quitBefore = await WaitForState(quitter, ContainerState.ContainerExited);
        Assert.Equal(7, quitBefore.ExitCode);
        var (pid, conmonPid) = await PidsAsync(sleeper);
        var (_, quitterConmon) = await PidsAsync(quitter);
        Assert.True(pid > 0 && conmonPid > 0, $"pid {pid}, conmon {conmonPid}");

        await StopGracefullyAsync();
        Assert.True(IsAlive(pid), $"container process {pid} died with the daemon");
        Assert.True(IsAlive(conmonPid), $"conmon {conmonPid} died with the daemon");
        Assert.Equal("conmon", Comm(conmonPid));

        await StartDaemonAsync();
        var pods = (await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items;
        var listed = Assert.Single(pods);
        Assert.Equal(pod, listed.Id);
        Assert.Equal(PodSandboxState.SandboxReady, listed.State);

        var sleeping = await StatusAsync(sleeper);
        Assert.Equal(ContainerState.ContainerRunning, sleeping.State);
        Assert.Equal((pid, conmonPid), await PidsAsync(sleeper));
        Assert.True(IsAlive(pid));
        var quit = await StatusAsync(quitter);
        Assert.Equal(ContainerState.ContainerExited, quit.State);
        Assert.Equal(7, quit.ExitCode);
        Assert.Equal(quitBefore.FinishedAt, quit.FinishedAt);
        Assert.True(quit.FinishedAt > 0 && quit.FinishedAt >= quit.StartedAt, $"started {quit.StartedAt}, finished {quit.FinishedAt}");

        // The recovered daemon still controls the container: stop, remove, and nothing is left.
        await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = sleeper, Timeout = 1 });
        var stopped = await WaitForState(sleeper, ContainerState.ContainerExited);
        Assert.Contains(stopped.ExitCode, new[] { 137, 143 });
        await WaitUntil(() => !IsAlive(pid), $"container process {pid} still alive after StopContainer");
        await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = sleeper });
        await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = quitter });
        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        await AssertNothingLeftAsync(cgroup, conmonPid, quitterConmon);
    }

    [Fact]
    public async Task A_handler_whose_binary_went_away_never_keeps_the_daemon_down_and_is_used_again_once_back()
    {
        // crun through a copy this test owns (moving the host's /usr/bin/crun would break every other test).
        var crun = Path.Combine(_daemon.Dir, "crun-copy");
        File.Copy("/usr/bin/crun", crun);
        File.SetUnixFileMode(crun, (UnixFileMode)0x1ED);
        Directory.CreateDirectory(_daemon.DropInDir);
        File.WriteAllText(Path.Combine(_daemon.DropInDir, "60-crun-copy.toml"), $"[runtimes.crun]\npath = \"{crun}\"\nroot_dir = \"{StateDir}/crun\"\n");
        await StopGracefullyAsync();
        await StartDaemonAsync();

        var pods = new Dictionary<string, (string Pod, PodSandboxConfig Config, string Cgroup, string Container)>();
        foreach (var handler in new[] { "runc", "crun" })
        {
            var config = PodConfig("handler-" + handler);
            var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler })).PodSandboxId;
            var status = await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod, Verbose = true });
            var cgroup = JsonDocument.Parse(status.Info["info"]).RootElement.GetProperty("cgroupPath").GetString()!;
            _podCgroups.Add(cgroup);
            var ctr = await CreateAndStartAsync(pod, config, "sleeper", "sleep 1000");
            await WaitForState(ctr, ContainerState.ContainerRunning);
            pods[handler] = (pod, config, cgroup, ctr);
        }
        var (crunPid, crunConmon) = await PidsAsync(pods["crun"].Container);
        var (_, runcConmon) = await PidsAsync(pods["runc"].Container);

        // A leftover for recovery to delete through every handler, crun's among them.
        Directory.CreateDirectory(Path.Combine(ContainersStateDir, "0123456789abcdef-interrupted"));
        await StopGracefullyAsync();
        File.Move(crun, crun + ".away");
        await StartDaemonAsync();

        var ready = (await _runtime.StatusAsync(new StatusRequest())).Status.Conditions.Single(c => c.Type == "RuntimeReady");
        Assert.True(ready.Status, $"{ready.Reason} {ready.Message}");
        Assert.Contains("'crun'", ready.Message);
        Assert.Contains(crun, ready.Message);
        // runc's container is fully controllable; crun's keeps its last known state; calls on it say why they fail.
        Assert.Equal(ContainerState.ContainerRunning, (await StatusAsync(pods["runc"].Container)).State);
        var exec = await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = pods["runc"].Container, Cmd = { "true" }, Timeout = 10 });
        Assert.Equal(0, exec.ExitCode);
        var lastKnown = await StatusAsync(pods["crun"].Container);
        Assert.Equal(ContainerState.ContainerRunning, lastKnown.State);
        Assert.Contains("'crun' is not available", lastKnown.Message);
        Assert.Contains("last known", lastKnown.Message);
        Assert.Equal("", (await StatusAsync(pods["runc"].Container)).Message);
        Assert.True(IsAlive(crunPid));
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = pods["crun"].Container, Cmd = { "true" }, Timeout = 10 }));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("'crun' is not available", e.Status.Detail);

        // Back again: crun's container answers without a restart.
        File.Move(crun + ".away", crun);
        exec = await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = pods["crun"].Container, Cmd = { "true" }, Timeout = 10 });
        Assert.Equal(0, exec.ExitCode);
        Assert.Equal("", (await StatusAsync(pods["crun"].Container)).Message);
        Assert.DoesNotContain("'crun'", (await _runtime.StatusAsync(new StatusRequest())).Status.Conditions.Single(c => c.Type == "RuntimeReady").Message);

        foreach (var (pod, _, _, _) in pods.Values)
        {
            await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
            await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        }
        await AssertNothingLeftAsync(pods["runc"].Cgroup, runcConmon, crunConmon);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_pod_with_a_user_namespace_survives_a_crash_and_a_restart_and_leaves_nothing_when_removed(string handler)
    {
        var config = PodConfig("userns-" + handler);
        var mapping = new IDMapping { ContainerId = 0, HostId = 700000, Length = 65536 };
        config.Linux = new LinuxPodSandboxConfig
        {
            SecurityContext = new LinuxSandboxSecurityContext
            {
                // PID POD as well: the infra process must join the user namespace too.
                NamespaceOptions = new NamespaceOption
                {
                    Pid = NamespaceMode.Pod,
                    UsernsOptions = new UserNamespace { Mode = NamespaceMode.Pod, Uids = { mapping }, Gids = { mapping } },
                },
            },
        };
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler })).PodSandboxId;
        var status = await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod, Verbose = true });
        var cgroup = JsonDocument.Parse(status.Info["info"]).RootElement.GetProperty("cgroupPath").GetString()!;
        _podCgroups.Add(cgroup);
        Assert.Equal(NamespaceMode.Pod, status.Status.Linux.Namespaces.Options.UsernsOptions.Mode);
        var sleeper = await CreateAndStartAsync(pod, config, "sleeper", "sleep 1000");
        await WaitForState(sleeper, ContainerState.ContainerRunning);
        var (pid, conmonPid) = await PidsAsync(sleeper);

        async Task AssertMapped(string id)
        {
            var r = await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { "cat", "/proc/self/uid_map" }, Timeout = 10 });
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("0 700000 65536", string.Join(' ', r.Stdout.ToStringUtf8().Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)));
        }
        await AssertMapped(sleeper);

        await CrashAsync();
        Assert.True(IsAlive(pid), $"container process {pid} died with the daemon");
        await StartDaemonAsync();
        Assert.Equal(PodSandboxState.SandboxReady, Assert.Single((await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items).State);
        Assert.Equal(ContainerState.ContainerRunning, (await StatusAsync(sleeper)).State);
        await AssertMapped(sleeper);

        await StopGracefullyAsync();
        await StartDaemonAsync();
        // The pinned user namespace still serves new containers of the pod after two restarts.
        var late = await CreateAndStartAsync(pod, config, "late", "sleep 1000");
        await WaitForState(late, ContainerState.ContainerRunning);
        await AssertMapped(late);
        var (_, lateConmon) = await PidsAsync(late);

        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        await AssertNothingLeftAsync(cgroup, conmonPid, lateConmon);
    }

    [Fact]
    public async Task A_container_that_exits_while_the_daemon_is_down_reports_its_real_exit_code_and_time()
    {
        var (pod, config, cgroup) = await RunPodAsync("downtime");
        var ctr = await CreateAndStartAsync(pod, config, "short", "sleep 2; exit 5");
        await CrashAsync();
        await Task.Delay(TimeSpan.FromSeconds(4));

        var restartedAt = DateTimeOffset.UtcNow;
        await StartDaemonAsync();
        var s = await StatusAsync(ctr);
        Assert.Equal(ContainerState.ContainerExited, s.State);
        Assert.Equal(5, s.ExitCode);
        Assert.Equal("Error", s.Reason);
        Assert.True(s.StartedAt > 0, "no started_at");
        // It ended ~2 s after its start, long before the restart: not stamped with the recovery time.
        var expected = s.StartedAt + 2_000_000_000L;
        Assert.True(Math.Abs(s.FinishedAt - expected) < 1_500_000_000L,
            $"finished_at {s.FinishedAt} is {(s.FinishedAt - expected) / 1e9:0.###} s from started_at + 2 s");
        Assert.True(s.FinishedAt < Nanos(restartedAt) - 1_000_000_000L,
            $"finished_at {s.FinishedAt} is within 1 s of the restart ({Nanos(restartedAt)})");
        var (_, conmonPid) = await PidsAsync(ctr);

        await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr });
        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        await AssertNothingLeftAsync(cgroup, conmonPid);
    }

    [Fact]
    public async Task A_crash_during_concurrent_creates_leaves_no_half_made_container()
    {
        var (pod, config, cgroup) = await RunPodAsync("crashy");
        const int count = 10;
        var returned = new System.Collections.Concurrent.ConcurrentBag<string>();
        var creates = Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            try
            {
                var id = (await _runtime.CreateContainerAsync(new CreateContainerRequest
                {
                    PodSandboxId = pod, Config = ShConfig($"c{i}", "sleep 1000"), SandboxConfig = config,
                }, deadline: DateTime.UtcNow.AddSeconds(20))).ContainerId;
                returned.Add(id);
            }
            catch (RpcException)
            {
                // The daemon died under the call.
            }
        })).ToList();
        // Kill while creates are under way: once the first container dir exists, a little later.
        var sw = Stopwatch.StartNew();
        while (Directory.GetDirectories(ContainersStateDir).Length == 0)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), "no create got under way within 10 s\n" + _daemon.Stderr);
            await Task.Delay(5);
        }
        // 10 concurrent creates take ~0.4-0.7 s here: 100-350 ms later most are half-made (dir, overlay,
        // conmon, no record yet); stop waiting early once a few have answered so some are still in flight.
        var killAt = sw.Elapsed + TimeSpan.FromMilliseconds(Random.Shared.Next(100, 350));
        while (sw.Elapsed < killAt && returned.Count < 3) await Task.Delay(5);
        var dirsAtCrash = Directory.GetDirectories(ContainersStateDir).Length;
        var answeredAtCrash = returned.Count;
        var overlaysAtCrash = Mounts.ReadMountInfo().Count(m => m.FsType == "overlay" && m.MountPoint.StartsWith(ContainersStateDir + "/", StringComparison.Ordinal));
        var conmonsAtCrash = ProcessesMentioning(ContainersStateDir + "/").Count;
        await CrashAsync();
        await Task.WhenAll(creates);
        output.WriteLine($"killed {sw.ElapsedMilliseconds} ms in: {answeredAtCrash} answered, {dirsAtCrash} container dirs, {overlaysAtCrash} overlays, {conmonsAtCrash} conmon/runtime processes");
        Assert.True(dirsAtCrash > answeredAtCrash, "the crash interrupted no create");

        await StartDaemonAsync();
        var listed = (await _runtime.ListContainersAsync(new ListContainersRequest())).Containers.Select(c => c.Id).ToHashSet();
        output.WriteLine($"{returned.Count} of {count} creates answered before the crash; {listed.Count} containers listed after recovery");
        Assert.Subset(listed, returned.ToHashSet());
        var exitsDir = Path.Combine(StateDir, "exits");
        var strayExits = Directory.Exists(exitsDir) ? Directory.GetFiles(exitsDir).Select(f => Path.GetFileName(f)).Where(f => !listed.Contains(f)).ToList() : [];
        output.WriteLine($"exit files of unlisted containers: {strayExits.Count}");

        // Recovery removed every leftover of an interrupted create: dirs, mounts, conmon, runtime state.
        Assert.Subset(listed, Directory.GetDirectories(ContainersStateDir).Select(d => Path.GetFileName(d)).ToHashSet());
        if (Directory.Exists(ContainersLayerDir))
            Assert.Subset(listed, Directory.GetDirectories(ContainersLayerDir).Select(d => Path.GetFileName(d)).ToHashSet());
        var containerMounts = Mounts.ReadMountInfo()
            .Where(m => m.MountPoint.StartsWith(ContainersStateDir + "/", StringComparison.Ordinal)).ToList();
        foreach (var m in containerMounts)
            Assert.Contains(m.MountPoint[(ContainersStateDir.Length + 1)..].Split('/')[0], listed);
        Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.FsType == "overlay" && m.MountPoint.StartsWith(_daemon.Dir + "/", StringComparison.Ordinal)
            && !listed.Any(id => m.MountPoint == Path.Combine(ContainersStateDir, id, "rootfs")));
        await WaitUntil(() => !ProcessesMentioning(ContainersStateDir + "/").Any(p => !listed.Any(id => p.CmdLine.Contains(id, StringComparison.Ordinal))),
            "a conmon or runtime process of an unlisted container is still running: "
            + string.Join("; ", ProcessesMentioning(ContainersStateDir + "/").Select(p => $"{p.Pid} {p.CmdLine}")));

        var conmons = new List<int>();
        foreach (var id in listed)
        {
            var s = await StatusAsync(id);
            Assert.Equal(ContainerState.ContainerCreated, s.State);
            conmons.Add((await PidsAsync(id)).ConmonPid);
            await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
            var e = await Assert.ThrowsAsync<RpcException>(async () => await StatusAsync(id));
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
        }
        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        await AssertNothingLeftAsync(cgroup, [.. conmons]);
    }

    /// <summary>No pod or container listed, no mount under Dir, no conmon, no pod cgroup, no state dirs.</summary>
    async Task AssertNothingLeftAsync(string podCgroup, params int[] conmonPids)
    {
        Assert.Empty((await _runtime.ListContainersAsync(new ListContainersRequest())).Containers);
        Assert.Empty((await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        var mounts = Mounts.ReadMountInfo().Where(m => m.MountPoint.StartsWith(_daemon.Dir + "/", StringComparison.Ordinal)).ToList();
        Assert.True(mounts.Count == 0, "mounts left: " + string.Join(", ", mounts.Select(m => $"{m.MountPoint} ({m.FsType})")));
        await WaitUntil(() => conmonPids.All(p => !IsAlive(p)) && !ProcessesMentioning(_daemon.Dir + "/").Any(),
            "processes left: " + string.Join("; ", ProcessesMentioning(_daemon.Dir + "/").Select(p => $"{p.Pid} {p.CmdLine}")));
        foreach (var dir in CgroupDirs(podCgroup))
            Assert.False(Directory.Exists(dir), $"pod cgroup {dir} left behind");
        Assert.Empty(Directory.GetFileSystemEntries(ContainersStateDir));
        Assert.Empty(Directory.GetDirectories(PodsStateDir));
        if (Directory.Exists(ContainersLayerDir)) Assert.Empty(Directory.GetFileSystemEntries(ContainersLayerDir));
        foreach (var (_, root) in RuntimeRoots)
            if (Directory.Exists(root)) Assert.Empty(Directory.GetDirectories(root));
    }

    /// <summary>The runtimes' --root dirs: DaemonProcess gives each test daemon private ones under its state dir.</summary>
    IEnumerable<(string Binary, string Root)> RuntimeRoots =>
        [("/usr/sbin/runc", Path.Combine(StateDir, "runc")), ("/usr/bin/crun", Path.Combine(StateDir, "crun"))];

    static IEnumerable<string> CgroupDirs(string path) =>
        File.Exists("/sys/fs/cgroup/cgroup.controllers")
            ? ["/sys/fs/cgroup" + path]
            : ["/sys/fs/cgroup/memory" + path, "/sys/fs/cgroup/cpu" + path, "/sys/fs/cgroup/pids" + path];

    static long Nanos(DateTimeOffset t) => (t - DateTimeOffset.UnixEpoch).Ticks * 100;

    async Task WaitUntil(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail(failure);
            await Task.Delay(100);
        }
    }

    /// <summary>The process exists and is not a zombie.</summary>
    static bool IsAlive(int pid)
    {
        if (pid <= 0) return false;
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].TrimStart()[0];
            return state is not ('Z' or 'X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    static string Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return ""; }
    }

    /// <summary>Live processes whose command line contains <paramref name="text"/>, except the daemon itself.</summary>
    List<(int Pid, string CmdLine)> ProcessesMentioning(string text)
    {
        var found = new List<(int, string)>();
        var daemon = _daemon.Process is { HasExited: false } d ? d.Id : -1;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId || pid == daemon) continue;
            try
            {
                var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmd.Contains(text, StringComparison.Ordinal) && IsAlive(pid)) found.Add((pid, cmd));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return found;
    }

    public async Task DisposeAsync()
    {
        try
        {
            await RemoveEverythingThroughTheDaemonAsync();
        }
        catch (Exception e)
        {
            output.WriteLine($"cleanup through the daemon failed: {e.Message}");
        }
        _daemon.Stop();
        _channel?.Dispose();
        ForceCleanup();
        _daemon.Dispose();
        await _registry.DisposeAsync();
    }

    /// <summary>After a failure midway: let (a running) daemon remove whatever is still listed.</summary>
    async Task RemoveEverythingThroughTheDaemonAsync()
    {
        if (_daemon.Process == null) return;
        if (_daemon.Process.HasExited) await StartDaemonAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var c in (await _runtime.ListContainersAsync(new ListContainersRequest(), deadline: deadline)).Containers)
            await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = c.Id }, deadline: deadline);
        foreach (var p in (await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest(), deadline: deadline)).Items)
        {
            await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = p.Id }, deadline: deadline);
            await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = p.Id }, deadline: deadline);
        }
    }

    /// <summary>
    /// Last resort once the daemon is stopped: kill conmon/runtime processes naming Dir and every process in
    /// the pods' cgroups, delete the runtimes' state, unmount everything under Dir, remove the cgroups.
    /// </summary>
    void ForceCleanup()
    {
        var dir = _daemon.Dir + "/";
        foreach (var (pid, cmd) in ProcessesMentioning(dir))
        {
            output.WriteLine($"killing leftover {pid}: {cmd}");
            ProcessControl.Signal(pid, ProcessControl.SIGKILL);
        }
        foreach (var cg in _podCgroups.SelectMany(CgroupDirs).Where(Directory.Exists))
            foreach (var procs in Directory.EnumerateFiles(cg, "cgroup.procs", SearchOption.AllDirectories))
                foreach (var line in SafeReadLines(procs))
                    if (int.TryParse(line, out var pid))
                    {
                        output.WriteLine($"killing leftover {pid} in {procs}");
                        ProcessControl.Signal(pid, ProcessControl.SIGKILL);
                    }
        foreach (var (runtime, root) in RuntimeRoots)
        {
            if (!Directory.Exists(root)) continue;
            foreach (var state in Directory.EnumerateDirectories(root))
            {
                output.WriteLine($"deleting leftover runtime state {state}");
                using var p = Process.Start(new ProcessStartInfo(runtime) { ArgumentList = { "--root", root, "delete", "--force", Path.GetFileName(state) }, RedirectStandardError = true, RedirectStandardOutput = true });
                p?.WaitForExit(10_000);
            }
        }
        if (Mounts.ReadMountInfo().Any(m => m.MountPoint.StartsWith(dir, StringComparison.Ordinal)))
        {
            output.WriteLine("unmounting leftovers under " + _daemon.Dir);
            Mounts.UnmountAllUnder(_daemon.Dir);
        }
        foreach (var cg in _podCgroups.SelectMany(CgroupDirs).Where(Directory.Exists))
            foreach (var d in Directory.EnumerateDirectories(cg, "*", SearchOption.AllDirectories).Append(cg).OrderByDescending(d => d.Length))
                try { Directory.Delete(d); } catch (IOException) { }
    }

    static IEnumerable<string> SafeReadLines(string file)
    {
        try { return File.ReadAllLines(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }
}
