using System.Diagnostics;
using System.Globalization;
using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Conformance.Bench;

/// <summary>
/// <c>cri-conformance bench-lifecycle</c>: pod/container lifecycle latencies and daemon RSS against any
/// CRI endpoint (used by <c>hack/bench-lifecycle.sh</c>). Every pod is host-network with one container
/// running <c>sleep 3600</c>; a cycle is RunPodSandbox → CreateContainer → StartContainer →
/// StopContainer (timeout 0) → RemoveContainer → StopPodSandbox → RemovePodSandbox. After the pulls and
/// the warm-up cycles it reads the daemon's idle VmRSS, runs <c>--pods</c> cycles one after another and
/// then <c>--pods</c> at once, then starts <c>--rss-pods</c> pods and reads VmRSS again before removing
/// them. With <c>--cni</c> it also runs the same cycles (warm-up, sequential, concurrent) with pods on the
/// runtime's CNI network (network namespace POD) before the loaded RSS; every such pod must report a pod IP
/// (checked outside the timings). Pods are labelled <c>io.crisharp.bench=lifecycle</c>; any left over
/// (also after a failure) are removed, and the bench fails if the runtime still lists one.
/// </summary>
public static class LifecycleBench
{
    public const string Usage = """
        usage: cri-conformance bench-lifecycle --endpoint unix:///path.sock --image REF --log-dir DIR --daemon-pid PID
                                              [--pull REF]... [--pods N] [--rss-pods N] [--warmup N]
                                              [--helper-match STR] [--ids-file FILE] [--timeout-seconds N] [--cni]

          --image            container image (fully qualified); pulled first
          --pull             another image to pull before the warm-up (e.g. the sandbox image), repeatable
          --log-dir          directory for the pods' log directories (created and emptied by the bench)
          --daemon-pid       pid of the daemon whose VmRSS is reported
          --pods             pods per run, sequential and concurrent (default 20)
          --rss-pods         pods running while the loaded RSS is read (default 50)
          --warmup           unmeasured full cycles before the idle RSS (default 3)
          --helper-match     also sum the VmRSS of processes whose command line contains STR
                             (the per-pod monitors: conmon, containerd-shim)
          --ids-file         append the id of every pod sandbox and container created, one a line
                             (for the caller's leak check: cgroups, mounts named after them)
          --timeout-seconds  per-RPC timeout (default 120)
          --cni              also run the cycles with pod-network pods (the runtime's CNI network): modes
                             cni-sequential and cni-concurrent; each such pod must report a pod IP
        prints a readable table, then machine lines:
          "stat MODE PHASE MEDIAN_MS P95_MS" (MODE sequential|concurrent[|cni-sequential|cni-concurrent]),
          "rss idle|loaded|peak KIB", "helpers idle|loaded KIB COUNT"
        """;

    private static readonly string[] Phases =
    [
        "RunPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
        "StopPodSandbox", "RemovePodSandbox", "pod-to-running", "end-to-end",
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        if (!BenchOptions.TryParse<Options>(args, "bench-lifecycle", Usage, out var o, out var exitCode))
        {
            return exitCode;
        }

        using var pods = new PodBench(o, "lifecycle");
        var bench = new Bench(pods, o);
        var failed = false;
        try
        {
            await pods.PrepareAsync(showTime: true);
            for (var i = 0; i < o.Warmup; i++)
            {
                await bench.CycleAsync($"warmup-{i}");
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            var idleRss = Proc.RssKib(o.DaemonPid);
            var idleHelpers = Proc.HelpersKib(o.HelperMatch);

            var runs = new List<Run> { await RunModeAsync(bench, o, "", podNetwork: false) };
            if (o.Cni)
            {
                for (var i = 0; i < o.Warmup; i++)
                {
                    await bench.CycleAsync($"cni-warmup-{i}", podNetwork: true);
                }

                runs.Add(await RunModeAsync(bench, o, "cni-", podNetwork: true));
            }

            // The loaded RSS: RSS_PODS pods each with a running container, started 10 at a time.
            var running = new List<(string Pod, string Container)>();
            await BenchSupport.ThrottledAsync(Enumerable.Range(0, o.RssPods), 10, async i =>
            {
                var (pod, ctr, _) = await bench.StartPodAsync($"rss-{i}", null, podNetwork: false);
                lock (running)
                {
                    running.Add((pod, ctr));
                }
            });

            var listed = await pods.ListContainersAsync();
            var runningCount = listed.Count(c => c.State == ContainerState.ContainerRunning);
            if (runningCount != o.RssPods)
            {
                throw new BenchException($"{runningCount} of {o.RssPods} containers are running");
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            var loadedRss = Proc.RssKib(o.DaemonPid);
            var loadedHelpers = Proc.HelpersKib(o.HelperMatch);
            var peakRss = Proc.StatusKib(o.DaemonPid, "VmHWM:");
            await BenchSupport.ThrottledAsync(running, 10, r => bench.StopPodAsync(r.Pod, r.Container, null));

            Print(o, runs, idleRss, loadedRss, peakRss, idleHelpers, loadedHelpers);
        }
        catch (Exception e) when (e is RpcException or BenchException or IOException)
        {
            Console.Error.WriteLine($"cri-conformance bench-lifecycle: {BenchSupport.Describe(e)}");
            failed = true;
        }

        // Whatever happened: remove every bench pod the runtime still lists, then check none is left.
        try
        {
            foreach (var pod in await pods.ListPodsAsync())
            {
                Console.Error.WriteLine($"cri-conformance bench-lifecycle: removing left-over pod {pod.Metadata.Name} ({pod.Id})");
                await pods.RemovePodAsync(pod.Id);
            }

            if ((await pods.ListPodsAsync()).Count is var n and > 0)
            {
                Console.Error.WriteLine($"cri-conformance bench-lifecycle: {n} bench pods still listed after cleanup");
                failed = true;
            }

            if ((await pods.ListContainersAsync()).Count is var c and > 0)
            {
                Console.Error.WriteLine($"cri-conformance bench-lifecycle: {c} bench containers still listed after cleanup");
                failed = true;
            }
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine($"cri-conformance bench-lifecycle: cleanup: {BenchSupport.Describe(e)}");
            failed = true;
        }

        try
        {
            bench.WriteIds();
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"cri-conformance bench-lifecycle: --ids-file: {e.Message}");
            failed = true;
        }

        return failed ? 1 : 0;
    }

    /// <summary>The measured cycles of one pod kind: <c>--pods</c> one after another, then <c>--pods</c> at once.</summary>
    private sealed record Run(string Prefix, List<Timings> Sequential, List<Timings> Concurrent, double ConcurrentWallMs);

    private static async Task<Run> RunModeAsync(Bench bench, Options o, string prefix, bool podNetwork)
    {
        var sequential = new List<Timings>();
        for (var i = 0; i < o.Pods; i++)
        {
            sequential.Add(await bench.CycleAsync($"{prefix}seq-{i}", podNetwork));
        }

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var concurrentTasks = Enumerable.Range(0, o.Pods)
            .Select(async i =>
            {
                await gate.Task;
                return await bench.CycleAsync($"{prefix}conc-{i}", podNetwork);
            })
            .ToList();
        var wall = Stopwatch.StartNew();
        gate.SetResult();
        var concurrent = (await Task.WhenAll(concurrentTasks)).ToList();
        return new Run(prefix, sequential, concurrent, wall.Elapsed.TotalMilliseconds);
    }

    private static void Print(
        Options o, List<Run> runs,
        long idleRss, long loadedRss, long peakRss, (long Kib, int Count) idleHelpers, (long Kib, int Count) loadedHelpers)
    {
        var inv = CultureInfo.InvariantCulture;
        var lines = new List<string>();
        foreach (var run in runs)
        {
            Console.WriteLine();
            Console.WriteLine(run.Prefix.Length == 0 ? "host-network pods:" : "pod-network (CNI) pods:");
            Console.WriteLine(string.Create(inv, $"{"phase (ms)",-18} {"seq median",11} {"seq p95",9} {"conc median",12} {"conc p95",9}"));
            foreach (var phase in Phases)
            {
                var (sm, sp) = BenchSupport.MedianP95(run.Sequential.Select(t => t[phase]));
                var (cm, cp) = BenchSupport.MedianP95(run.Concurrent.Select(t => t[phase]));
                Console.WriteLine(string.Create(inv, $"{phase,-18} {sm,11:F1} {sp,9:F1} {cm,12:F1} {cp,9:F1}"));
                lines.Add(string.Create(inv, $"stat {run.Prefix}sequential {phase} {sm:F3} {sp:F3}"));
                lines.Add(string.Create(inv, $"stat {run.Prefix}concurrent {phase} {cm:F3} {cp:F3}"));
            }

            Console.WriteLine(string.Create(inv, $"{o.Pods} concurrent cycles took {run.ConcurrentWallMs / 1000:F2} s wall"));
            lines.Add(string.Create(inv, $"stat {run.Prefix}concurrent wall {run.ConcurrentWallMs:F3} {run.ConcurrentWallMs:F3}"));
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(inv, $"daemon VmRSS idle {idleRss / 1024.0:F1} MiB, with {o.RssPods} pods {loadedRss / 1024.0:F1} MiB, VmHWM {peakRss / 1024.0:F1} MiB"));
        if (o.HelperMatch is not null)
        {
            Console.WriteLine(string.Create(inv, $"helpers ({o.HelperMatch}): idle {idleHelpers.Count} procs {idleHelpers.Kib / 1024.0:F1} MiB, with {o.RssPods} pods {loadedHelpers.Count} procs {loadedHelpers.Kib / 1024.0:F1} MiB"));
        }

        foreach (var l in lines)
        {
            Console.WriteLine(l);
        }

        Console.WriteLine(string.Create(inv, $"rss idle {idleRss}"));
        Console.WriteLine(string.Create(inv, $"rss loaded {loadedRss}"));
        Console.WriteLine(string.Create(inv, $"rss peak {peakRss}"));
        Console.WriteLine(string.Create(inv, $"helpers idle {idleHelpers.Kib} {idleHelpers.Count}"));
        Console.WriteLine(string.Create(inv, $"helpers loaded {loadedHelpers.Kib} {loadedHelpers.Count}"));
    }

    private sealed class Timings
    {
        private readonly Dictionary<string, double> _ms = [];

        public double this[string phase]
        {
            get => _ms[phase];
            set => _ms[phase] = value;
        }

        public void Record(string phase, double ms) => _ms[phase] = ms;
    }

    /// <summary>The timed pod cycles, on <see cref="PodBench"/>; notes the ids of every pod and container it creates.</summary>
    private sealed class Bench(PodBench pods, Options o)
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _ids = new();

        /// <summary>One full cycle, every phase timed. A pod-network pod must report a pod IP (checked untimed).</summary>
        public async Task<Timings> CycleAsync(string name, bool podNetwork = false)
        {
            var t = new Timings();
            var total = Stopwatch.StartNew();
            var (pod, ctr, podConfig) = await StartPodAsync(name, t, podNetwork);
            t["pod-to-running"] = total.Elapsed.TotalMilliseconds;
            if (podNetwork)
            {
                total.Stop();
                var status = (await pods.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod }, pods.Call())).Status;
                if (string.IsNullOrEmpty(status?.Network?.Ip))
                {
                    throw new BenchException($"pod {podConfig.Metadata.Name} ({pod}) on the pod network reports no pod IP");
                }

                total.Start();
            }

            await StopPodAsync(pod, ctr, t);
            t["end-to-end"] = total.Elapsed.TotalMilliseconds;
            Directory.Delete(podConfig.LogDirectory, recursive: true);
            return t;
        }

        /// <summary>RunPodSandbox, CreateContainer, StartContainer; records the phases into <paramref name="t"/> if given.</summary>
        public async Task<(string Pod, string Container, PodSandboxConfig Config)> StartPodAsync(string name, Timings? t, bool podNetwork)
        {
            var config = pods.NewPodConfig($"{name}-{pods.Run}", podNetwork);
            var (pod, ctr) = await pods.StartSleepPodAsync(config, _ids.Enqueue, t is null ? null : t.Record);
            return (pod, ctr, config);
        }

        /// <summary>StopContainer (timeout 0), RemoveContainer, StopPodSandbox, RemovePodSandbox; records the phases into <paramref name="t"/> if given.</summary>
        public Task StopPodAsync(string pod, string ctr, Timings? t) => pods.StopSleepPodAsync(pod, ctr, t is null ? null : t.Record);

        /// <summary>Writes the ids noted so far to <c>--ids-file</c> (after the timed work, so no I/O is timed).</summary>
        public void WriteIds()
        {
            if (o.IdsFile is { } file)
            {
                File.AppendAllLines(file, _ids);
            }
        }
    }

    private static class Proc
    {
        public static long RssKib(int pid) => StatusKib(pid, "VmRSS:");

        public static long StatusKib(int pid, string key)
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }

            throw new BenchException($"/proc/{pid}/status has no {key}");
        }

        /// <summary>Total VmRSS and count of the processes whose command line contains <paramref name="match"/>.</summary>
        public static (long Kib, int Count) HelpersKib(string? match)
        {
            if (match is null)
            {
                return (0, 0);
            }

            long kib = 0;
            var count = 0;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
                {
                    continue;
                }

                try
                {
                    var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                    if (cmdline.Contains(match, StringComparison.Ordinal))
                    {
                        kib += RssKib(pid);
                        count++;
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or BenchException)
                {
                    // exited meanwhile, or a kernel thread (no VmRSS)
                }
            }

            return (kib, count);
        }
    }

    private sealed class Options : PodBenchOptions
    {
        public int DaemonPid { get; private set; }

        public int Pods { get; private set; } = 20;

        public int RssPods { get; private set; } = 50;

        public int Warmup { get; private set; } = 3;

        public string? HelperMatch { get; private set; }

        public bool Cni { get; private set; }

        protected override string RequiredOptions => "--endpoint, --image, --log-dir and --daemon-pid";

        protected override bool RequiredGiven => base.RequiredGiven && DaemonPid != 0;

        protected override bool ParseOption(string name, Func<string> value)
        {
            switch (name)
            {
                case "--daemon-pid": DaemonPid = PositiveInt(value(), "--daemon-pid"); return true;
                case "--pods": Pods = PositiveInt(value(), "--pods"); return true;
                case "--rss-pods": RssPods = PositiveInt(value(), "--rss-pods"); return true;
                case "--warmup": Warmup = PositiveInt(value(), "--warmup"); return true;
                case "--helper-match": HelperMatch = value(); return true;
                case "--cni": Cni = true; return true;
                default: return base.ParseOption(name, value);
            }
        }

        protected override void Validate()
        {
            base.Validate();
            if (!File.Exists($"/proc/{DaemonPid}/status"))
            {
                throw new ArgumentException($"--daemon-pid: no process {DaemonPid}");
            }
        }
    }
}
