using System.Diagnostics;
using System.Globalization;
using CriSharp.Api.V1;
using Grpc.Core;

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

    public static async Task<int> RunAsync(string[] args)
    {
        if (!BenchOptions.TryParse<Options>(args, "bench-exec", Usage, out var o, out var exitCode))
        {
            return exitCode;
        }

        using var bench = new PodBench(o, "exec");
        var runtime = bench.Runtime;
        string? pod = null;
        var failed = false;
        try
        {
            await bench.PrepareAsync();
            Action<string>? noteId = o.IdsFile is { } ids ? id => File.AppendAllLines(ids, [id]) : null;
            (pod, var ctr) = await bench.StartSleepPodAsync(bench.NewPodConfig("exec-" + bench.Run), noteId);

            var request = new ExecSyncRequest { ContainerId = ctr, Cmd = { "true" }, Timeout = 10 };
            async Task<double> OnceAsync()
            {
                var sw = Stopwatch.StartNew();
                var r = await runtime.ExecSyncAsync(request, bench.Call());
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
            var (median, p95) = BenchSupport.MedianP95(times);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ExecSync `true` x{o.Iterations} sequential: median {median:F2} ms, p95 {p95:F2} ms, min {times.Min():F2} ms, max {times.Max():F2} ms, total {total.Elapsed.TotalSeconds:F2} s"));
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
                    await bench.RemovePodAsync(pod);
                }

                // A pod whose container could not be created or started, or one of an earlier run that failed.
                foreach (var p in await bench.ListPodsAsync())
                {
                    await bench.RemovePodAsync(p.Id);
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

    private sealed class Options : PodBenchOptions
    {
        public int Iterations { get; private set; } = 200;

        public int Warmup { get; private set; } = 10;

        protected override bool ParseOption(string name, Func<string> value)
        {
            switch (name)
            {
                case "--iterations": Iterations = PositiveInt(value(), "--iterations"); return true;
                case "--warmup": Warmup = int.TryParse(value(), NumberStyles.None, CultureInfo.InvariantCulture, out var w) ? w : throw new ArgumentException("--warmup: not a number"); return true;
                default: return base.ParseOption(name, value);
            }
        }
    }
}
