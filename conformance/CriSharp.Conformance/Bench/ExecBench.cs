using System.Diagnostics;
using System.Globalization;
using CriSharp.Conformance.Framework;
using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Conformance.Bench;

/// <summary>
/// <c>cri-conformance bench-exec</c>: ExecSync latency against any CRI endpoint, the kubelet's exec-probe path.
/// One host-network pod with a busybox <c>sleep 3600</c> container; after <c>--warmup</c> unmeasured calls it
/// times <c>--iterations</c> sequential ExecSync calls of <c>true</c> (timeout 10 s, as a probe sets one) and
/// checks each exits 0. The pod is labelled <c>io.crisharp.bench=exec</c> and removed at the end, pass or
/// fail. Used by <c>hack/bench-exec.sh</c>.
/// </summary>
public static class ExecBench
{
    public const string Usage = """
        usage: cri-conformance bench-exec --endpoint unix:///path.sock --image REF --log-dir DIR
                                          [--pull REF]... [--iterations N] [--warmup N] [--ids-file FILE] [--timeout-seconds N]

          --image            container image (fully qualified, with `true` and `sleep`); pulled first
          --pull             another image to pull first (e.g. the sandbox image), repeatable
          --log-dir          directory for the pod's log directory (created by the bench)
          --iterations       timed ExecSync calls (default 200)
          --warmup           unmeasured ExecSync calls first (default 10)
          --ids-file         append the ids of the pod sandbox and container created, one a line
          --timeout-seconds  per-RPC timeout (default 120)
        prints a readable summary, then the machine line "stat ExecSync MEDIAN_MS P95_MS"
        """;

    private const string LabelKey = "io.crisharp.bench";
    private const string LabelValue = "exec";

    public static async Task<int> RunAsync(string[] args)
    {
        Options o;
        try
        {
            o = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"cri-conformance bench-exec: {e.Message}");
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
        CallOptions Call() => new(deadline: DateTime.UtcNow + TimeSpan.FromSeconds(o.TimeoutSeconds));
        string? pod = null;
        var failed = false;
        try
        {
            Directory.CreateDirectory(o.LogDir);
            foreach (var image in o.Pulls.Prepend(o.Image).Distinct())
            {
                var r = await images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, Call());
                Console.WriteLine($"pulled {image} ({r.ImageRef})");
            }

            var config = new PodSandboxConfig
            {
                Metadata = new PodSandboxMetadata { Name = "exec-" + run, Namespace = "crisharp-bench", Uid = Guid.NewGuid().ToString() },
                LogDirectory = Path.Combine(o.LogDir, "exec-" + run),
                Labels = { [LabelKey] = LabelValue },
                Linux = new LinuxPodSandboxConfig
                {
                    SecurityContext = new LinuxSandboxSecurityContext
                    {
                        NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node, Pid = NamespaceMode.Container, Ipc = NamespaceMode.Pod },
                    },
                },
            };
            Directory.CreateDirectory(config.LogDirectory);
            pod = (await runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, Call())).PodSandboxId;
            var ctr = (await runtime.CreateContainerAsync(new CreateContainerRequest
            {
                PodSandboxId = pod,
                SandboxConfig = config,
                Config = new ContainerConfig
                {
                    Metadata = new ContainerMetadata { Name = "sleep" },
                    Image = new ImageSpec { Image = o.Image },
                    Command = { "sleep", "3600" },
                    LogPath = "sleep/0.log",
                    Labels = { [LabelKey] = LabelValue },
                    Linux = new LinuxContainerConfig(),
                },
            }, Call())).ContainerId;
            if (o.IdsFile is { } ids)
            {
                File.AppendAllLines(ids, [pod, ctr]);
            }

            await runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr }, Call());

            var request = new ExecSyncRequest { ContainerId = ctr, Cmd = { "true" }, Timeout = 10 };
            async Task<double> OnceAsync()
            {
                var sw = Stopwatch.StartNew();
                var r = await runtime.ExecSyncAsync(request, Call());
                var ms = sw.Elapsed.TotalMilliseconds;
                if (r.ExitCode != 0)
                {
                    throw new BenchException($"ExecSync `true` exited {r.ExitCode}: {r.Stderr.ToStringUtf8().Trim()}");
                }

                return ms;
            }

            for (var i = 0; i < o.Warmup; i++)
            {
                await OnceAsync();
            }

            var times = new List<double>(o.Iterations);
            var total = Stopwatch.StartNew();
            for (var i = 0; i < o.Iterations; i++)
            {
                times.Add(await OnceAsync());
            }

            total.Stop();
            times.Sort();
            var median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[(times.Count / 2) - 1] + times[times.Count / 2]) / 2;
            var p95 = times[Math.Max(0, (int)Math.Ceiling(0.95 * times.Count) - 1)];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ExecSync `true` x{o.Iterations} sequential: median {median:F2} ms, p95 {p95:F2} ms, min {times[0]:F2} ms, max {times[^1]:F2} ms, total {total.Elapsed.TotalSeconds:F2} s"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stat ExecSync {median:F3} {p95:F3}"));
        }
        catch (Exception e) when (e is RpcException or BenchException or IOException)
        {
            Console.Error.WriteLine($"cri-conformance bench-exec: {e.Message}");
            failed = true;
        }
        finally
        {
            try
            {
                if (pod != null)
                {
                    await runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod }, Call());
                    await runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod }, Call());
                }

                var left = (await runtime.ListPodSandboxAsync(
                    new ListPodSandboxRequest { Filter = new PodSandboxFilter { LabelSelector = { [LabelKey] = LabelValue } } }, Call())).Items;
                foreach (var p in left)
                {
                    await runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = p.Id }, Call());
                    await runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = p.Id }, Call());
                }
            }
            catch (RpcException e)
            {
                Console.Error.WriteLine($"cri-conformance bench-exec: cleanup: {e.Status.Detail}");
                failed = true;
            }
        }

        return failed ? 1 : 0;
    }

    private sealed class BenchException(string message) : Exception(message);

    private sealed class Options
    {
        public string Endpoint { get; private set; } = "";

        public string Image { get; private set; } = "";

        public List<string> Pulls { get; } = [];

        public string LogDir { get; private set; } = "";

        public int Iterations { get; private set; } = 200;

        public int Warmup { get; private set; } = 10;

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
                    case "--iterations": o.Iterations = PositiveInt(Value(), "--iterations"); break;
                    case "--warmup": o.Warmup = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var w) ? w : throw new ArgumentException("--warmup: not a number"); break;
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
}
