using System.Diagnostics;
using System.Globalization;
using CriSharp.Api.V1;
using Grpc.Core;

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

    private const string LabelValue = "stats";

    /// <summary>The cgroup parent of the bench pods: /crisharp-bench-stats/pod&lt;uid&gt;.</summary>
    public const string CgroupRoot = "crisharp-bench-stats";

    public static async Task<int> RunAsync(string[] args)
    {
        if (!BenchOptions.TryParse<Options>(args, "bench-stats", Usage, out var o, out var exitCode))
        {
            return exitCode;
        }

        using var bench = new PodBench(o, LabelValue);
        var runtime = bench.Runtime;
        var ids = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var failed = false;

        try
        {
            await bench.PrepareAsync();
            var sw = Stopwatch.StartNew();
            await BenchSupport.ThrottledAsync(Enumerable.Range(0, o.Containers), 10, i => StartPodAsync(bench, $"stats-{i}-{bench.Run}", ids));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"started {o.Containers} pods in {sw.Elapsed.TotalSeconds:F1} s"));
            var running = (await bench.ListContainersAsync()).Count(c => c.State == ContainerState.ContainerRunning);
            if (running != o.Containers)
            {
                throw new BenchException($"{running} of {o.Containers} containers are running");
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            var rpcs = new (string Name, Func<Task<int>> Call)[]
            {
                ("ListContainerStats", async () => (await runtime.ListContainerStatsAsync(new ListContainerStatsRequest(), bench.Call())).Stats
                    .Count(s => s.Attributes.Labels.TryGetValue(PodBench.LabelKey, out var v) && v == LabelValue)),
                ("ListPodSandboxStats", async () => (await runtime.ListPodSandboxStatsAsync(new ListPodSandboxStatsRequest(), bench.Call())).Stats
                    .Count(s => s.Attributes.Labels.TryGetValue(PodBench.LabelKey, out var v) && v == LabelValue)),
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

                    var (median, p95) = BenchSupport.MedianP95(times);
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
            Console.Error.WriteLine($"cri-conformance bench-stats: {BenchSupport.Describe(e)}");
            failed = true;
        }

        // Whatever happened: remove every bench pod the runtime still lists, then check none is left.
        try
        {
            await BenchSupport.ThrottledAsync(await bench.ListPodsAsync(), 10, pod => bench.RemovePodAsync(pod.Id));
            if ((await bench.ListPodsAsync()).Count is var n and > 0)
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

    /// <summary>One bench pod in the cgroup parent /<see cref="CgroupRoot"/>/pod&lt;uid&gt;, its ids noted in <paramref name="ids"/>.</summary>
    private static async Task StartPodAsync(PodBench bench, string name, System.Collections.Concurrent.ConcurrentQueue<string> ids)
    {
        var config = bench.NewPodConfig(name);
        var uid = config.Metadata.Uid;

        // As the kubelet sets it (cgroupfs driver): containerd reports no pod stats without one.
        config.Linux.CgroupParent = $"/{CgroupRoot}/pod{uid}";
        ids.Enqueue("pod" + uid);
        await bench.StartSleepPodAsync(config, ids.Enqueue);
    }

    private sealed class Options : PodBenchOptions
    {
        public int Containers { get; private set; } = 100;

        public int Iterations { get; private set; } = 50;

        public int Warmup { get; private set; } = 5;

        protected override bool ParseOption(string name, Func<string> value)
        {
            switch (name)
            {
                case "--containers": Containers = PositiveInt(value(), "--containers"); return true;
                case "--iterations": Iterations = PositiveInt(value(), "--iterations"); return true;
                case "--warmup": Warmup = PositiveInt(value(), "--warmup"); return true;
                default: return base.ParseOption(name, value);
            }
        }
    }
}
