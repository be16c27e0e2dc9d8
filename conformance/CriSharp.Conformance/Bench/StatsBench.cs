using System.Diagnostics;
using System.Globalization;
using CriSharp.Conformance.Framework;
using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Conformance.Bench;

/// <summary>
/// <c>cri-conformance bench-stats</c>: ListContainerStats and ListPodSandboxStats latency against any CRI
/// endpoint with <c>--containers</c> host-network pods running (one busybox <c>sleep</c> container each),
/// as the kubelet's stats provider calls them (no filter). After <c>--warmup</c> unmeasured rounds it times
/// <c>--iterations</c> rounds of each call, one after the other, and checks every answer lists all bench
/// containers/pods. Pods are labelled <c>io.crisharp.bench=stats</c>; any left over (also after a failure)
/// are removed, and the bench fails if the runtime still lists one. Used by <c>hack/bench-stats.sh</c>.
/// </summary>
public static class StatsBench
{
    public const string Usage = """
        usage: cri-conformance bench-stats --endpoint unix:///path.sock --image REF --log-dir DIR
                                           [--pull REF]... [--containers N] [--iterations N] [--warmup N]
                                           [--ids-file FILE] [--timeout-seconds N]

          --image            container image (fully qualified); pulled first
          --pull             another image to pull first (e.g. the sandbox image), repeatable
          --log-dir          directory for the pods' log directories (created by the bench)
          --containers       pods (one container each) running while the stats are listed (default 100)
          --iterations       timed calls of each RPC (default 50)
          --warmup           unmeasured calls of each RPC first (default 5)
          --ids-file         append the id of every pod sandbox and container created (and "pod<uid>",
                             the last part of each pod's cgroup parent /crisharp-bench-stats/pod<uid>), one a line
          --timeout-seconds  per-RPC timeout (default 120)
        prints a readable table, then machine lines:
          "stat RPC MEDIAN_MS P95_MS" (RPC = ListContainerStats | ListPodSandboxStats), or
          "unsupported RPC STATUS" when the runtime does not implement it
        """;

    private const string LabelKey = "io.crisharp.bench";
    private const string LabelValue = "stats";
    private const string PodNamespace = "crisharp-bench";

    /// <summary>The cgroup parent of the bench pods: /crisharp-bench-stats/pod&lt;uid&gt;.</summary>
    public const string CgroupRoot = "crisharp-bench-stats";

    public static async Task<int> RunAsync(string[] args)
    {
        Options o;
        try
        {
            o = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"cri-conformance bench-stats: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        if (o.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }

        var endpoint = Endpoint.Parse(o.Endpoint);
        using var channel = endpoint.CreateChannel();
        var runtime = new RuntimeService.RuntimeServiceClient(channel);
        var images = new ImageService.ImageServiceClient(channel);
        var run = Guid.NewGuid().ToString("N")[..8];
        var ids = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var failed = false;
        CallOptions Call() => new(deadline: DateTime.UtcNow + TimeSpan.FromSeconds(o.TimeoutSeconds));

        try
        {
            Directory.CreateDirectory(o.LogDir);
            foreach (var image in o.Pulls.Prepend(o.Image).Distinct())
            {
                var r = await images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, Call());
                Console.WriteLine($"pulled {image} ({r.ImageRef})");
            }

            var sw = Stopwatch.StartNew();
            using (var throttle = new SemaphoreSlim(10))
            {
                await Task.WhenAll(Enumerable.Range(0, o.Containers).Select(async i =>
                {
                    await throttle.WaitAsync();
                    try
                    {
                        await StartPodAsync(runtime, o, $"stats-{i}-{run}", ids, Call);
                    }
                    finally
                    {
                        throttle.Release();
                    }
                }));
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"started {o.Containers} pods in {sw.Elapsed.TotalSeconds:F1} s"));
            var running = (await runtime.ListContainersAsync(
                new ListContainersRequest { Filter = new ContainerFilter { LabelSelector = { [LabelKey] = LabelValue } } }, Call())).Containers
                .Count(c => c.State == ContainerState.ContainerRunning);
            if (running != o.Containers)
            {
                throw new BenchException($"{running} of {o.Containers} containers are running");
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            var rpcs = new (string Name, Func<Task<int>> Call)[]
            {
                ("ListContainerStats", async () => (await runtime.ListContainerStatsAsync(new ListContainerStatsRequest(), Call())).Stats
                    .Count(s => s.Attributes.Labels.TryGetValue(LabelKey, out var v) && v == LabelValue)),
                ("ListPodSandboxStats", async () => (await runtime.ListPodSandboxStatsAsync(new ListPodSandboxStatsRequest(), Call())).Stats
                    .Count(s => s.Attributes.Labels.TryGetValue(LabelKey, out var v) && v == LabelValue)),
            };
            var lines = new List<string>();
            Console.WriteLine();
            Console.WriteLine($"{"rpc (" + o.Containers + " containers)",-32} {"median ms",10} {"p95 ms",10} {"min ms",10} {"max ms",10}");
            foreach (var (name, call) in rpcs)
            {
                try
                {
                    for (var i = 0; i < o.Warmup; i++)
                    {
                        await call();
                    }

                    var times = new List<double>();
                    for (var i = 0; i < o.Iterations; i++)
                    {
                        var t = Stopwatch.StartNew();
                        var n = await call();
                        times.Add(t.Elapsed.TotalMilliseconds);
                        if (n != o.Containers)
                        {
                            throw new BenchException($"{name} listed {n} of the {o.Containers} bench items");
                        }
                    }

                    var (median, p95) = Stats(times);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-32} {median,10:F2} {p95,10:F2} {times.Min(),10:F2} {times.Max(),10:F2}"));
                    lines.Add(string.Create(CultureInfo.InvariantCulture, $"stat {name} {median:F3} {p95:F3}"));
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
                {
                    Console.WriteLine($"{name,-32} not implemented by this runtime");
                    lines.Add($"unsupported {name} {e.StatusCode}");
                }
            }

            foreach (var l in lines)
            {
                Console.WriteLine(l);
            }
        }
        catch (Exception e) when (e is RpcException or BenchException or IOException)
        {
            Console.Error.WriteLine($"cri-conformance bench-stats: {(e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : e.Message)}");
            failed = true;
        }

        // Whatever happened: remove every bench pod the runtime still lists, then check none is left.
        try
        {
            var filter = new PodSandboxFilter { LabelSelector = { [LabelKey] = LabelValue } };
            var left = (await runtime.ListPodSandboxAsync(new ListPodSandboxRequest { Filter = filter }, Call())).Items;
            using (var throttle = new SemaphoreSlim(10))
            {
                await Task.WhenAll(left.Select(async pod =>
                {
                    await throttle.WaitAsync();
                    try
                    {
                        await runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod.Id }, Call());
                        await runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod.Id }, Call());
                    }
                    finally
                    {
                        throttle.Release();
                    }
                }));
            }

            if ((await runtime.ListPodSandboxAsync(new ListPodSandboxRequest { Filter = filter }, Call())).Items.Count is var n and > 0)
            {
                Console.Error.WriteLine($"cri-conformance bench-stats: {n} bench pods still listed after cleanup");
                failed = true;
            }
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine($"cri-conformance bench-stats: cleanup: {e.StatusCode}: {e.Status.Detail}");
            failed = true;
        }

        if (o.IdsFile is { } file)
        {
            File.AppendAllLines(file, ids);
        }

        return failed ? 1 : 0;
    }

    private static async Task StartPodAsync(RuntimeService.RuntimeServiceClient runtime, Options o, string name,
        System.Collections.Concurrent.ConcurrentQueue<string> ids, Func<CallOptions> call)
    {
        var uid = Guid.NewGuid().ToString();
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Namespace = PodNamespace, Uid = uid, Attempt = 0 },
            LogDirectory = Path.Combine(o.LogDir, name),
            Labels = { [LabelKey] = LabelValue },
            Linux = new LinuxPodSandboxConfig
            {
                // As the kubelet sets it (cgroupfs driver): containerd reports no pod stats without one.
                CgroupParent = $"/{CgroupRoot}/pod{uid}",
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node, Pid = NamespaceMode.Container, Ipc = NamespaceMode.Pod },
                },
            },
        };
        Directory.CreateDirectory(config.LogDirectory);
        ids.Enqueue("pod" + uid);
        var pod = (await runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, call())).PodSandboxId;
        ids.Enqueue(pod);
        var ctr = (await runtime.CreateContainerAsync(
            new CreateContainerRequest
            {
                PodSandboxId = pod,
                SandboxConfig = config,
                Config = new ContainerConfig
                {
                    Metadata = new ContainerMetadata { Name = "sleep", Attempt = 0 },
                    Image = new ImageSpec { Image = o.Image },
                    Command = { "sleep", "3600" },
                    LogPath = "sleep/0.log",
                    Labels = { [LabelKey] = LabelValue },
                    Linux = new LinuxContainerConfig(),
                },
            },
            call())).ContainerId;
        ids.Enqueue(ctr);
        await runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr }, call());
    }

    /// <summary>Median and p95 (nearest rank) in milliseconds.</summary>
    private static (double Median, double P95) Stats(List<double> values)
    {
        var v = values.Order().ToList();
        var median = v.Count % 2 == 1 ? v[v.Count / 2] : (v[(v.Count / 2) - 1] + v[v.Count / 2]) / 2;
        var p95 = v[Math.Max(0, (int)Math.Ceiling(0.95 * v.Count) - 1)];
        return (median, p95);
    }

    private sealed class Options
    {
        public string Endpoint { get; private set; } = "";

        public string Image { get; private set; } = "";

        public List<string> Pulls { get; } = [];

        public string LogDir { get; private set; } = "";

        public int Containers { get; private set; } = 100;

        public int Iterations { get; private set; } = 50;

        public int Warmup { get; private set; } = 5;

        public string? IdsFile { get; private set; }

        public int TimeoutSeconds { get; private set; } = 120;

        public bool Help { get; private set; }

        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--endpoint": o.Endpoint = Value(); break;
                    case "--image": o.Image = Value(); break;
                    case "--pull": o.Pulls.Add(Value()); break;
                    case "--log-dir": o.LogDir = Value(); break;
                    case "--containers": o.Containers = PositiveInt(Value(), "--containers"); break;
                    case "--iterations": o.Iterations = PositiveInt(Value(), "--iterations"); break;
                    case "--warmup": o.Warmup = PositiveInt(Value(), "--warmup"); break;
                    case "--ids-file": o.IdsFile = Value(); break;
                    case "--timeout-seconds": o.TimeoutSeconds = PositiveInt(Value(), "--timeout-seconds"); break;
                    case "-h" or "--help": o.Help = true; return o;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }

            if (o.Endpoint.Length == 0 || o.Image.Length == 0 || o.LogDir.Length == 0)
            {
                throw new ArgumentException("--endpoint, --image and --log-dir are required");
            }

            if (!Path.IsPathRooted(o.LogDir))
            {
                throw new ArgumentException($"--log-dir: '{o.LogDir}' is not an absolute path");
            }

            return o;
        }

        private static int PositiveInt(string v, string what) =>
            int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new ArgumentException($"{what}: '{v}' is not a positive integer");
    }

    private sealed class BenchException(string message) : Exception(message);
}
