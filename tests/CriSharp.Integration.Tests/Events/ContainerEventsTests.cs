using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using CriSharp.TestSupport;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Events;

/// <summary>
/// GetContainerEvents, the Prometheus endpoint and UpdatePodSandboxResources through a real daemon (runc, conmon,
/// cgroupfs): events reach every subscriber in order and in time, also for 100 containers at once.
/// </summary>
public sealed class ContainerEventsTests : IAsyncLifetime
{
    readonly int _metricsPort = FreePort();
    readonly DaemonProcess _daemon;
    RegistryFixture _registry = null!;
    IReadOnlyDictionary<string, BuiltImage> _images = null!;
    RuntimeService.RuntimeServiceClient _runtime = null!;
    ImageService.ImageServiceClient _imageClient = null!;

    public ContainerEventsTests() =>
        _daemon = new DaemonProcess($"""
            [metrics]
            enabled = true
            address = "127.0.0.1:{_metricsPort}"
            """);

    public async Task InitializeAsync()
    {
        _registry = await RegistryFixture.Anonymous();
        _images = await TestImages.PushDefaultAsync(_registry);
        await _daemon.StartServingAsync();
        var channel = _daemon.Channel();
        _runtime = new RuntimeService.RuntimeServiceClient(channel);
        _imageClient = new ImageService.ImageServiceClient(channel);
        await _imageClient.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = Busybox } });
    }

    public async Task DisposeAsync()
    {
        _daemon.Dispose();
        await _registry.DisposeAsync();
    }

    string Busybox => _images["busybox:latest"].Reference;

    static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    static PodSandboxConfig PodConfig(string name) => new()
    {
        Metadata = new PodSandboxMetadata { Name = name, Uid = Guid.NewGuid().ToString(), Namespace = "it" },
        Linux = new LinuxPodSandboxConfig
        {
            SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node } },
        },
    };

    ContainerConfig Sleeper(string name) => new()
    {
        Metadata = new ContainerMetadata { Name = name },
        Image = new ImageSpec { Image = Busybox },
        Command = { "sleep", "3600" },
    };

    /// <summary>One GetContainerEvents stream, read in the background; every event is kept with its arrival time.</summary>
    sealed class Subscriber : IAsyncDisposable
    {
        readonly CancellationTokenSource _cts = new();
        readonly AsyncServerStreamingCall<ContainerEventResponse> _call;
        readonly Task _reader;
        readonly Stopwatch _clock;
        public readonly ConcurrentQueue<(ContainerEventResponse Event, TimeSpan At)> Events = new();
        public Exception? Error;
        /// <summary>The server ended the stream (OK or an error).</summary>
        public bool Ended => _reader.IsCompleted && !_cts.IsCancellationRequested;

        Subscriber(RuntimeService.RuntimeServiceClient client, Stopwatch clock)
        {
            _clock = clock;
            _call = client.GetContainerEvents(new GetEventsRequest(), cancellationToken: _cts.Token);
            _reader = Task.Run(async () =>
            {
                try
                {
                    await foreach (var e in _call.ResponseStream.ReadAllAsync(_cts.Token)) Events.Enqueue((e, _clock.Elapsed));
                }
                catch (RpcException e) when (!_cts.IsCancellationRequested && e.StatusCode is StatusCode.Unavailable)
                {
                    // The daemon went away.
                }
                catch (Exception e) when (_cts.IsCancellationRequested && e is RpcException { StatusCode: StatusCode.Cancelled } or OperationCanceledException)
                {
                }
                catch (Exception e)
                {
                    Error = e;
                }
            });
        }

        /// <summary>Subscribed once the server sent the response headers.</summary>
        public static async Task<Subscriber> StartAsync(RuntimeService.RuntimeServiceClient client, Stopwatch clock)
        {
            var s = new Subscriber(client, clock);
            await s._call.ResponseHeadersAsync;
            return s;
        }

        public List<ContainerEventResponse> For(string id) => [.. Events.Select(e => e.Event).Where(e => e.ContainerId == id)];

        /// <summary>Waits until <paramref name="done"/> holds for the events received so far.</summary>
        public async Task WaitAsync(Func<IReadOnlyList<ContainerEventResponse>, bool> done, TimeSpan timeout, string what)
        {
            var deadline = Stopwatch.StartNew();
            while (!done([.. Events.Select(e => e.Event)]))
            {
                if (Error != null && !Ended) throw new InvalidOperationException($"event stream failed while waiting for {what}", Error);
                if (deadline.Elapsed > timeout)
                    throw new TimeoutException($"no {what} within {timeout.TotalSeconds} s; got {Events.Count} events");
                await Task.Delay(10);
            }
        }

        public async ValueTask DisposeAsync()
        {
            _cts.Cancel();
            await _reader;
            _call.Dispose();
        }
    }

    static readonly ContainerEventType[] Lifecycle =
    [
        ContainerEventType.ContainerCreatedEvent, ContainerEventType.ContainerStartedEvent,
        ContainerEventType.ContainerStoppedEvent, ContainerEventType.ContainerDeletedEvent,
    ];

    [Fact]
    public async Task Two_subscribers_see_created_started_stopped_deleted_within_a_second_each()
    {
        var clock = Stopwatch.StartNew();
        await using var a = await Subscriber.StartAsync(_runtime, clock);
        await using var b = await Subscriber.StartAsync(_runtime, clock);
        var config = PodConfig("events");
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        string ctr = "";

        async Task Step(Func<Task> rpc, ContainerEventType type, int count)
        {
            await rpc();
            var returned = clock.Elapsed;
            foreach (var s in new[] { a, b })
            {
                await s.WaitAsync(_ => s.For(ctr).Count >= count, TimeSpan.FromSeconds(5), $"{type} of {ctr}");
                var (e, at) = s.Events.Where(x => x.Event.ContainerId == ctr).ElementAt(count - 1);
                Assert.Equal(type, e.ContainerEventType);
                Assert.True(at - returned < TimeSpan.FromSeconds(1), $"{type} arrived {(at - returned).TotalMilliseconds:F0} ms after the RPC returned");
                Assert.Equal(pod, e.PodSandboxStatus?.Id);
                Assert.Equal(config.Metadata.Uid, e.PodSandboxStatus?.Metadata?.Uid);
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
                Assert.InRange(e.CreatedAt, now - 10_000_000_000L, now + 1_000_000_000L);
                var mine = e.ContainersStatuses.SingleOrDefault(c => c.Id == ctr);
                if (type == ContainerEventType.ContainerDeletedEvent) Assert.Null(mine);
                else Assert.Equal(type switch
                {
                    ContainerEventType.ContainerCreatedEvent => ContainerState.ContainerCreated,
                    ContainerEventType.ContainerStartedEvent => ContainerState.ContainerRunning,
                    _ => ContainerState.ContainerExited,
                }, mine?.State);
            }
        }

        await Step(async () => ctr = (await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = Sleeper("c1"), SandboxConfig = config })).ContainerId,
            ContainerEventType.ContainerCreatedEvent, 1);
        await Step(async () => await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr }), ContainerEventType.ContainerStartedEvent, 2);
        await Step(async () => await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = ctr, Timeout = 0 }), ContainerEventType.ContainerStoppedEvent, 3);
        await Step(async () => await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr }), ContainerEventType.ContainerDeletedEvent, 4);

        // The sandbox itself: created and started on RunPodSandbox, stopped, then deleted (still carrying its status).
        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        foreach (var s in new[] { a, b })
        {
            await s.WaitAsync(_ => s.For(pod).Count >= 4, TimeSpan.FromSeconds(1), $"the 4 events of pod {pod}");
            Assert.Equal(Lifecycle, s.For(pod).Select(e => e.ContainerEventType));
            Assert.Equal(Lifecycle, s.For(ctr).Select(e => e.ContainerEventType));
            Assert.Equal(PodSandboxState.SandboxNotready, s.For(pod)[3].PodSandboxStatus?.State);
        }
    }

    [Fact]
    public async Task Stopping_the_daemon_ends_open_event_streams_instead_of_waiting_for_them()
    {
        var clock = Stopwatch.StartNew();
        await using var a = await Subscriber.StartAsync(_runtime, clock);
        var sw = Stopwatch.StartNew();
        _daemon.Signal(ProcessControl.SIGTERM);
        Assert.Equal(0, await _daemon.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        // shutdown_timeout_seconds (4 s) is how long in-flight calls may take; a subscriber must not use it up.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"the daemon took {sw.Elapsed.TotalSeconds:F1} s to stop with an open event stream");
        await a.WaitAsync(_ => a.Ended, TimeSpan.FromSeconds(5), "the end of the stream");
    }

    [Fact]
    public async Task A_burst_of_100_containers_reaches_every_subscriber_complete_and_in_order()
    {
        // 25 host-network pods of 4 containers: every event carries its pod's statuses, so this is kubelet-sized
        // pods rather than one pod whose 100 statuses would ride on each of its 400 events.
        const int pods = 25, perPod = 4, n = pods * perPod;
        var clock = Stopwatch.StartNew();
        await using var a = await Subscriber.StartAsync(_runtime, clock);
        await using var b = await Subscriber.StartAsync(_runtime, clock);
        var configs = Enumerable.Range(0, pods).Select(i => PodConfig($"burst-{i}")).ToList();
        var podIds = await Task.WhenAll(configs.Select(async c => (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = c })).PodSandboxId));
        var podsReady = clock.Elapsed;

        var ids = await Task.WhenAll(Enumerable.Range(0, n).Select(async i =>
        {
            var (pod, config) = (podIds[i % pods], configs[i % pods]);
            var id = (await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = Sleeper($"c{i}"), SandboxConfig = config })).ContainerId;
            await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
            return id;
        }));
        var setUp = clock.Elapsed;
        await Task.WhenAll(ids.Select(async id =>
        {
            await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 0 });
            await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
        }));
        var tornDown = clock.Elapsed;

        var set = ids.ToHashSet();
        foreach (var s in new[] { a, b })
        {
            await s.WaitAsync(all => all.Count(e => set.Contains(e.ContainerId)) >= 4 * n, TimeSpan.FromSeconds(10), $"{4 * n} container events");
            var mine = s.Events.Where(e => set.Contains(e.Event.ContainerId)).ToList();
            Assert.Equal(4 * n, mine.Count);
            foreach (var id in ids) Assert.Equal(Lifecycle, mine.Where(e => e.Event.ContainerId == id).Select(e => e.Event.ContainerEventType));
            // Delivered within a second of the calls that caused them returning, also at the peak of the burst.
            var lastStarted = mine.Where(e => e.Event.ContainerEventType == ContainerEventType.ContainerStartedEvent).Max(e => e.At) - setUp;
            var last = mine.Max(e => e.At) - tornDown;
            Assert.True(lastStarted < TimeSpan.FromSeconds(1), $"last STARTED event {lastStarted.TotalMilliseconds:F0} ms after the last start returned");
            Assert.True(last < TimeSpan.FromSeconds(1), $"last event {last.TotalMilliseconds:F0} ms after the last remove returned");
            foreach (var pod in podIds)
                Assert.Equal(Lifecycle[..2], s.For(pod).Select(e => e.ContainerEventType));
        }
        await Task.WhenAll(podIds.Select(async p => await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = p })));
        Assert.Null(a.Error);
        Assert.Null(b.Error);
        Console.WriteLine($"burst: {pods} pods in {podsReady.TotalSeconds:F1} s, {n} containers up at {setUp.TotalSeconds:F1} s, down at {tornDown.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task The_metrics_endpoint_has_rpc_latencies_errors_pulls_and_oom_kills()
    {
        await _runtime.VersionAsync(new VersionRequest());
        await _runtime.VersionAsync(new VersionRequest());
        var e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = "0000dead" }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);

        // A container limited to 32 MiB that keeps allocating is OOM killed.
        var config = PodConfig("oom");
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var hog = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = "hog" },
            Image = new ImageSpec { Image = Busybox },
            Command = { "tail", "/dev/zero" },
            Linux = new LinuxContainerConfig { Resources = new LinuxContainerResources { MemoryLimitInBytes = 32L << 20 } },
        };
        var ctr = (await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = hog, SandboxConfig = config })).ContainerId;
        await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr });
        ContainerStatus status;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((status = (await _runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = ctr })).Status).State != ContainerState.ContainerExited)
        {
            Assert.True(DateTime.UtcNow < deadline, "the memory hog was not killed");
            await Task.Delay(100);
        }
        Assert.Equal("OOMKilled", status.Reason);

        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{_metricsPort}/metrics");
        Assert.True(Value(text, "crisharp_grpc_request_duration_seconds_count", "service=\"RuntimeService\",method=\"Version\"") >= 2, text);
        Assert.True(Value(text, "crisharp_grpc_request_duration_seconds_bucket", "service=\"RuntimeService\",method=\"Version\",le=\"+Inf\"") >= 2, text);
        Assert.Equal(1, Value(text, "crisharp_grpc_request_errors_total", "service=\"RuntimeService\",method=\"ContainerStatus\",code=\"NotFound\""));
        Assert.True(Value(text, "crisharp_grpc_request_duration_seconds_count", "service=\"ImageService\",method=\"PullImage\"") >= 1, text);
        Assert.True(Value(text, "crisharp_image_pull_bytes_total", "") > 0, text);
        Assert.True(Value(text, "crisharp_image_pull_duration_seconds_count", "") >= 1, text);
        Assert.Equal(1, Value(text, "crisharp_container_oom_kills_total", ""));
        Assert.Contains("# TYPE crisharp_external_program_failures_total counter", text);
        Assert.Contains("process_cpu_seconds_total", text);
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
    }

    /// <summary>The sample value of <paramref name="name"/>{<paramref name="labels"/>} (no braces when labels are empty).</summary>
    static double Value(string exposition, string name, string labels)
    {
        var series = labels.Length == 0 ? name : $"{name}{{{labels}}}";
        var m = Regex.Match(exposition, "^" + Regex.Escape(series) + @" (\S+)", RegexOptions.Multiline);
        Assert.True(m.Success, $"no sample {series} in:\n{exposition}");
        return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task UpdatePodSandboxResources_changes_the_pod_cgroup_on_the_host()
    {
        var config = PodConfig("resize");
        config.Linux.Resources = new LinuxContainerResources { CpuShares = 512, MemoryLimitInBytes = 256L << 20 };
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var info = (await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod, Verbose = true })).Info["info"];
        var cgroup = JsonDocument.Parse(info).RootElement.GetProperty("cgroupPath").GetString()!;
        Assert.Equal(Cpu(512), Read("cpu", cgroup, "cpu.shares", "cpu.weight"));

        await _runtime.UpdatePodSandboxResourcesAsync(new UpdatePodSandboxResourcesRequest
        {
            PodSandboxId = pod,
            Resources = new LinuxContainerResources { CpuShares = 2048, MemoryLimitInBytes = 512L << 20 },
            Overhead = new LinuxContainerResources { CpuShares = 100, MemoryLimitInBytes = 16L << 20 },
        });
        Assert.Equal(Cpu(2148), Read("cpu", cgroup, "cpu.shares", "cpu.weight"));
        Assert.Equal((528L << 20).ToString(), Read("memory", cgroup, "memory.limit_in_bytes", "memory.max"));

        var e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.UpdatePodSandboxResourcesAsync(new UpdatePodSandboxResourcesRequest { PodSandboxId = "0000dead" }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.UpdatePodSandboxResourcesAsync(new UpdatePodSandboxResourcesRequest()));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
    }

    static bool V2 => File.Exists("/sys/fs/cgroup/cgroup.controllers");

    /// <summary>What the pod cgroup holds for cpu shares: the shares on v1, runc's cpu.weight mapping of them on v2.</summary>
    static string Cpu(long shares) => V2 ? (1 + (shares - 2) * 9999 / 262142).ToString() : shares.ToString();

    /// <summary>A pod cgroup file: the v1 controller hierarchy's <paramref name="v1File"/>, or the unified <paramref name="v2File"/>.</summary>
    static string Read(string controller, string cgroup, string v1File, string v2File)
    {
        if (V2) return File.ReadAllText($"/sys/fs/cgroup{cgroup}/{v2File}").Trim();
        var mount = Mounts.ReadMountInfo().First(m => m.FsType == "cgroup" && m.SuperOptions.Split(',').Contains(controller)).MountPoint;
        return File.ReadAllText($"{mount}{cgroup}/{v1File}").Trim();
    }
}
