using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using CriSharp.TestSupport;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>Pods and containers through the daemon's socket, on real runc/crun, conmon and overlayfs.</summary>
public sealed class PodLifecycleTests : IAsyncLifetime
{
    readonly DaemonProcess _daemon = new();
    RegistryFixture _registry = null!;
    IReadOnlyDictionary<string, BuiltImage> _images = null!;
    RuntimeService.RuntimeServiceClient _runtime = null!;
    ImageService.ImageServiceClient _imageClient = null!;
    string _logDir = null!;

    public async Task InitializeAsync()
    {
        _registry = await RegistryFixture.Anonymous();
        _images = await TestImages.PushDefaultAsync(_registry);
        await _daemon.StartServingAsync();
        var channel = _daemon.Channel();
        _runtime = new RuntimeService.RuntimeServiceClient(channel);
        _imageClient = new ImageService.ImageServiceClient(channel);
        _logDir = Path.Combine(_daemon.Dir, "logs");
        await _imageClient.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = Busybox } });
    }

    public async Task DisposeAsync()
    {
        var leftovers = Mounts.ReadMountInfo().Where(m => m.MountPoint.StartsWith(_daemon.Dir, StringComparison.Ordinal)).ToList();
        _daemon.Dispose();
        await _registry.DisposeAsync();
        foreach (var m in leftovers) Mounts.Unmount(m.MountPoint, detach: true);
    }

    string Busybox => _images["busybox:latest"].Reference;

    PodSandboxConfig PodConfig(string name, bool hostNetwork = false) => new()
    {
        Metadata = new PodSandboxMetadata { Name = name, Uid = Guid.NewGuid().ToString(), Namespace = "it" },
        Hostname = name,
        LogDirectory = Path.Combine(_logDir, name),
        DnsConfig = new DNSConfig { Servers = { "10.0.0.10" }, Searches = { "it.svc.cluster.local" }, Options = { "ndots:5" } },
        Linux = new LinuxPodSandboxConfig
        {
            SecurityContext = new LinuxSandboxSecurityContext
            {
                NamespaceOptions = new NamespaceOption { Network = hostNetwork ? NamespaceMode.Node : NamespaceMode.Pod },
            },
        },
    };

    ContainerConfig ShConfig(string name, string script) => new()
    {
        Metadata = new ContainerMetadata { Name = name },
        Image = new ImageSpec { Image = Busybox },
        Command = { "sh", "-c", script },
        LogPath = $"{name}.log",
    };

    async Task<ContainerStatus> WaitForState(string id, ContainerState state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var s = (await _runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id })).Status;
            if (s.State == state) return s;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"container {id} is {s.State}, not {state}\n{_daemon.Stderr}");
            await Task.Delay(100);
        }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_container_runs_logs_in_cri_format_and_reports_its_exit_code(string handler)
    {
        var config = PodConfig("life-" + handler);
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler })).PodSandboxId;
        var status = await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod });
        Assert.Equal(PodSandboxState.SandboxReady, status.Status.State);
        Assert.Equal(handler, status.Status.RuntimeHandler);

        var ctr = (await _runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = pod,
            Config = ShConfig("c1", "echo hello; echo oops >&2; hostname; cat /etc/resolv.conf; exit 3"),
            SandboxConfig = config,
        })).ContainerId;
        Assert.Equal(ContainerState.ContainerCreated, (await _runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = ctr })).Status.State);
        await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr });
        var exited = await WaitForState(ctr, ContainerState.ContainerExited);
        Assert.Equal(3, exited.ExitCode);
        Assert.Equal("Error", exited.Reason);
        Assert.True(exited.FinishedAt >= exited.StartedAt && exited.StartedAt > 0);

        var log = await File.ReadAllLinesAsync(exited.LogPath);
        Assert.Contains(log, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\S+ stdout F hello$"));
        Assert.Contains(log, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\S+ stderr F oops$"));
        Assert.Contains(log, l => l.EndsWith(" stdout F life-" + handler));
        Assert.Contains(log, l => l.EndsWith(" stdout F nameserver 10.0.0.10"));
        Assert.Contains(log, l => l.EndsWith(" stdout F search it.svc.cluster.local"));

        await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = ctr, Timeout = 1 });
        await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr });
        await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr });
        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        Assert.Empty((await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.MountPoint.StartsWith(_daemon.Dir, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stop_with_a_timeout_sends_the_stop_signal_then_kills()
    {
        var config = PodConfig("stopper");
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        // Ignores SIGTERM: only SIGKILL after the timeout ends it.
        var stubborn = (await _runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = pod, Config = ShConfig("stubborn", "trap '' TERM; while true; do sleep 1; done"), SandboxConfig = config,
        })).ContainerId;
        var polite = (await _runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = pod, Config = ShConfig("polite", "trap 'exit 0' TERM; while true; do sleep 0.1; done"), SandboxConfig = config,
        })).ContainerId;
        await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = stubborn });
        await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = polite });
        await WaitForState(stubborn, ContainerState.ContainerRunning);
        await Task.Delay(300); // let the traps be installed

        var sw = System.Diagnostics.Stopwatch.StartNew();
        await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = polite, Timeout = 10 });
        var politeStatus = await WaitForState(polite, ContainerState.ContainerExited);
        Assert.Equal(0, politeStatus.ExitCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), "SIGTERM should have ended it long before the timeout");

        await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = stubborn, Timeout = 1 });
        var stubbornStatus = await WaitForState(stubborn, ContainerState.ContainerExited);
        Assert.Equal(137, stubbornStatus.ExitCode);

        await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = stubborn, Timeout = 1 });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        Assert.Empty((await _runtime.ListContainersAsync(new ListContainersRequest())).Containers);
    }

    [Fact]
    public async Task Hostile_and_invalid_requests_get_precise_codes_and_leave_nothing()
    {
        var config = PodConfig("hostile");
        var e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = "nope" }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("runtime_handler", e.Status.Detail);

        var injected = PodConfig("sysctl");
        injected.Linux.Sysctls.Add("kernel.shm_rmid_forced", "1+kernel.core_pattern=|/tmp/x");
        e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = injected }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);

        var noName = PodConfig("x");
        noName.Metadata.Name = "";
        e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = noName }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("metadata.name", e.Status.Detail);

        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var dup = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }));
        Assert.Equal(StatusCode.AlreadyExists, dup.StatusCode);

        var escape = ShConfig("escape", "true");
        escape.LogPath = "../../etc/evil.log";
        e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = escape, SandboxConfig = config }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("log_path", e.Status.Detail);

        var missingMount = ShConfig("mnt", "true");
        missingMount.Mounts.Add(new Mount { ContainerPath = "/data", HostPath = "/nonexistent/crisharp/path" });
        e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = missingMount, SandboxConfig = config }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.False(Directory.Exists("/nonexistent/crisharp/path"));

        var unpulled = ShConfig("unpulled", "true");
        unpulled.Image.Image = $"{_registry.Host}/crisharp-test/never-pulled:latest";
        e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = unpulled, SandboxConfig = config }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);

        e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = "0000dead", Config = ShConfig("x", "true"), SandboxConfig = config }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);

        Assert.Empty((await _runtime.ListContainersAsync(new ListContainersRequest())).Containers);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_daemon.Dir, "state/containers")));
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
    }

    [Fact]
    public async Task A_retried_create_in_flight_gets_the_same_id_instead_of_name_reserved()
    {
        var config = PodConfig("retry");
        // kubelet retries a call that timed out on its side while ours is still working.
        var pods = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ =>
            _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }).ResponseAsync));
        Assert.Single(pods.Select(p => p.PodSandboxId).Distinct());
        var pod = pods[0].PodSandboxId;

        var ctrConfig = ShConfig("retried", "sleep 30");
        var ctrs = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ =>
            _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = ctrConfig, SandboxConfig = config }).ResponseAsync));
        Assert.Single(ctrs.Select(c => c.ContainerId).Distinct());
        Assert.Single((await _runtime.ListContainersAsync(new ListContainersRequest())).Containers);

        // Once the first call has completed, the same name is taken: AlreadyExists.
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = ctrConfig, SandboxConfig = config }));
        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
    }

    [Fact]
    public async Task A_create_whose_caller_gave_up_is_handed_to_the_retry()
    {
        var config = PodConfig("deadline");
        // The client gives up long before the pod exists; the server finishes the create anyway.
        var gaveUp = await Assert.ThrowsAsync<RpcException>(async () =>
            await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, deadline: DateTime.UtcNow.AddMilliseconds(5)));
        Assert.Equal(StatusCode.DeadlineExceeded, gaveUp.StatusCode);
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var listed = Assert.Single((await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        Assert.Equal(pod, listed.Id);
        Assert.Equal(PodSandboxState.SandboxReady, listed.State);
        // One answer per caller that gave up: after that, the same name is a duplicate again.
        // (A retry that joined the create in flight cannot be told from a new caller, so one more may get the id.)
        try { Assert.Equal(pod, (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId); }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists) { }
        var dup = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }));
        Assert.Equal(StatusCode.AlreadyExists, dup.StatusCode);

        // Three identical creates, the first caller cancels: the create is not undone under the two that joined,
        // and the first caller's retry gets the same container.
        var ctrConfig = ShConfig("joined", "sleep 30");
        CreateContainerRequest Request() => new() { PodSandboxId = pod, Config = ctrConfig, SandboxConfig = config };
        using var cancel = new CancellationTokenSource();
        var bundles = Path.Combine(_daemon.Dir, "state/containers");
        var first = _runtime.CreateContainerAsync(Request(), cancellationToken: cancel.Token).ResponseAsync;
        // Cancelled once the server is working on it (its bundle exists), not before the request got there.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Directory.GetDirectories(bundles).Length == 0 && DateTime.UtcNow < deadline) await Task.Delay(1);
        var others = Enumerable.Range(0, 2).Select(_ => _runtime.CreateContainerAsync(Request()).ResponseAsync).ToList();
        cancel.Cancel();
        var cancelled = await Assert.ThrowsAsync<RpcException>(async () => await first);
        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
        var ids = (await Task.WhenAll(others)).Select(r => r.ContainerId).ToList();
        ids.Add((await _runtime.CreateContainerAsync(Request())).ContainerId);
        var id = Assert.Single(ids.Distinct());
        Assert.Equal(id, Assert.Single((await _runtime.ListContainersAsync(new ListContainersRequest())).Containers).Id);
        await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
    }
}
