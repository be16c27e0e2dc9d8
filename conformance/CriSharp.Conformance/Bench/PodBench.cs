using System.Diagnostics;
using System.Globalization;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;
using Grpc.Net.Client;

namespace CriSharp.Conformance.Bench;

/// <summary>
/// What the benches that run pods (exec, lifecycle, stats) share: the connection to the CRI endpoint with a
/// per-RPC deadline of <c>--timeout-seconds</c>, the pulls before the first pod, and their pods. Every bench pod
/// is in namespace <c>crisharp-bench</c>, labelled <c>io.crisharp.bench=LABEL</c> (it and its container, so
/// left-overs of a failed run can be found and removed), has its log directory under <c>--log-dir</c>, and
/// runs one container, <c>sleep 3600</c> in <c>--image</c>.
/// </summary>
internal sealed class PodBench : IDisposable
{
    public const string LabelKey = "io.crisharp.bench";
    public const string PodNamespace = "crisharp-bench";

    private readonly PodBenchOptions _o;
    private readonly string _label;
    private readonly GrpcChannel _channel;

    public PodBench(PodBenchOptions o, string label)
    {
        _o = o;
        _label = label;
        _channel = Endpoint.Parse(o.Endpoint).CreateChannel();
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
        Images = new ImageService.ImageServiceClient(_channel);
    }

    public RuntimeService.RuntimeServiceClient Runtime { get; }

    public ImageService.ImageServiceClient Images { get; }

    /// <summary>A token unique to this run of the bench, for pod names.</summary>
    public string Run { get; } = Guid.NewGuid().ToString("N")[..8];

    /// <summary>The options of one RPC: a deadline of <c>--timeout-seconds</c> from now.</summary>
    public CallOptions Call() => new(deadline: DateTime.UtcNow + TimeSpan.FromSeconds(_o.TimeoutSeconds));

    /// <summary>
    /// Creates <c>--log-dir</c>, then pulls <c>--image</c> and every <c>--pull</c> (each once), printing
    /// "pulled IMAGE (REF)" for each, with the pull's time if <paramref name="showTime"/>.
    /// </summary>
    public async Task PrepareAsync(bool showTime = false)
    {
        Directory.CreateDirectory(_o.LogDir);
        foreach (var image in _o.Pulls.Prepend(_o.Image).Distinct())
        {
            var sw = Stopwatch.StartNew();
            var r = await Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, Call());
            Console.WriteLine(showTime
                ? string.Create(CultureInfo.InvariantCulture, $"pulled {image} ({r.ImageRef}) in {sw.Elapsed.TotalSeconds:F2} s")
                : $"pulled {image} ({r.ImageRef})");
        }
    }

    /// <summary>
    /// The config of a bench pod named <paramref name="name"/> (fresh uid, log directory <c>--log-dir/NAME</c>):
    /// host network unless <paramref name="podNetwork"/>, a PID namespace per container, pod IPC, as kubelet sets them.
    /// </summary>
    public PodSandboxConfig NewPodConfig(string name, bool podNetwork = false) => new()
    {
        Metadata = new PodSandboxMetadata { Name = name, Namespace = PodNamespace, Uid = Guid.NewGuid().ToString(), Attempt = 0 },
        LogDirectory = Path.Combine(_o.LogDir, name),
        Labels = { [LabelKey] = _label },
        Linux = new LinuxPodSandboxConfig
        {
            SecurityContext = new LinuxSandboxSecurityContext
            {
                NamespaceOptions = new NamespaceOption
                {
                    Network = podNetwork ? NamespaceMode.Pod : NamespaceMode.Node,
                    Pid = NamespaceMode.Container,
                    Ipc = NamespaceMode.Pod,
                },
            },
        },
    };

    /// <summary>
    /// Creates the pod's log directory (as kubelet does before RunPodSandbox), then RunPodSandbox, CreateContainer
    /// (<c>sleep 3600</c>) and StartContainer. <paramref name="noteId"/> gets the pod's and then the container's id
    /// as soon as each exists; <paramref name="phaseDone"/> each RPC's name and milliseconds once it returned (the
    /// time of noting an id counts to the next phase).
    /// </summary>
    public async Task<(string Pod, string Container)> StartSleepPodAsync(
        PodSandboxConfig config, Action<string>? noteId = null, Action<string, double>? phaseDone = null)
    {
        Directory.CreateDirectory(config.LogDirectory);
        var sw = Stopwatch.StartNew();
        var pod = (await Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, Call())).PodSandboxId;
        Lap(phaseDone, "RunPodSandbox", sw);
        noteId?.Invoke(pod);
        var ctr = (await Runtime.CreateContainerAsync(
            new CreateContainerRequest
            {
                PodSandboxId = pod,
                SandboxConfig = config,
                Config = new ContainerConfig
                {
                    Metadata = new ContainerMetadata { Name = "sleep", Attempt = 0 },
                    Image = new ImageSpec { Image = _o.Image },
                    Command = { "sleep", "3600" },
                    LogPath = "sleep/0.log",
                    Labels = { [LabelKey] = _label },
                    Linux = new LinuxContainerConfig(),
                },
            },
            Call())).ContainerId;
        Lap(phaseDone, "CreateContainer", sw);
        noteId?.Invoke(ctr);
        await Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr }, Call());
        Lap(phaseDone, "StartContainer", sw);
        return (pod, ctr);
    }

    /// <summary>
    /// The other half of <see cref="StartSleepPodAsync"/>: StopContainer (timeout 0), RemoveContainer, StopPodSandbox,
    /// RemovePodSandbox, each RPC's name and milliseconds to <paramref name="phaseDone"/>.
    /// </summary>
    public async Task StopSleepPodAsync(string pod, string ctr, Action<string, double>? phaseDone = null)
    {
        var sw = Stopwatch.StartNew();
        await Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = ctr, Timeout = 0 }, Call());
        Lap(phaseDone, "StopContainer", sw);
        await Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr }, Call());
        Lap(phaseDone, "RemoveContainer", sw);
        await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod }, Call());
        Lap(phaseDone, "StopPodSandbox", sw);
        await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod }, Call());
        Lap(phaseDone, "RemovePodSandbox", sw);
    }

    /// <summary>StopPodSandbox then RemovePodSandbox (which stop and remove its containers too).</summary>
    public async Task RemovePodAsync(string pod)
    {
        await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod }, Call());
        await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod }, Call());
    }

    /// <summary>The pods with this bench's label the runtime lists.</summary>
    public async Task<IReadOnlyList<PodSandbox>> ListPodsAsync() => (await Runtime.ListPodSandboxAsync(
        new ListPodSandboxRequest { Filter = new PodSandboxFilter { LabelSelector = { [LabelKey] = _label } } }, Call())).Items;

    /// <summary>The containers with this bench's label the runtime lists.</summary>
    public async Task<IReadOnlyList<Container>> ListContainersAsync() => (await Runtime.ListContainersAsync(
        new ListContainersRequest { Filter = new ContainerFilter { LabelSelector = { [LabelKey] = _label } } }, Call())).Containers;

    public void Dispose() => _channel.Dispose();

    private static void Lap(Action<string, double>? phaseDone, string phase, Stopwatch sw)
    {
        if (phaseDone is not null)
        {
            phaseDone(phase, sw.Elapsed.TotalMilliseconds);
        }

        sw.Restart();
    }
}
