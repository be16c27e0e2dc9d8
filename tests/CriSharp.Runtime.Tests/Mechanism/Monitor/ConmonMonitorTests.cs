using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Oci;
using Xunit.Abstractions;

namespace CriSharp.Runtime.Tests.Mechanism.Monitor;

/// <summary>Real containers under conmon 2.1 with runc and crun: pid reporting, CRI logs, exit files, kill, errors, log reopen.</summary>
public sealed class ConmonMonitorTests(MonitorHost host, ITestOutputHelper output) : IClassFixture<MonitorHost>, IAsyncLifetime
{
    readonly List<(OciRuntime Runtime, string Id, string Bundle)> _created = [];
    readonly ConcurrentDictionary<string, TaskCompletionSource<(int Code, DateTimeOffset At)>> _exits = new();
    ExitWatcher? _watcher;

    public Task InitializeAsync()
    {
        output.WriteLine("controllers moved from cgroup v2 to v1 for crun: " +
                         (host.MovedControllers.Count > 0 ? string.Join(",", host.MovedControllers) : "none needed"));
        _watcher = new ExitWatcher(host.ExitDir);
        _watcher.ContainerExited += (id, code, at) => ExitOf(id).TrySetResult((code, at));
        _watcher.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _watcher?.Dispose();
        foreach (var (runtime, id, bundle) in _created) await host.CleanupAsync(runtime, id, bundle);
    }

    TaskCompletionSource<(int Code, DateTimeOffset At)> ExitOf(string id) =>
        _exits.GetOrAdd(id, _ => new TaskCompletionSource<(int, DateTimeOffset)>(TaskCreationOptions.RunContinuationsAsynchronously));

    (OciRuntime Runtime, string Id, string Bundle, ContainerLaunch Launch) Prepare(string handler, params string[] args)
    {
        var runtime = host.Runtime(handler);
        var id = handler + "-" + Guid.NewGuid().ToString("N")[..12];
        var bundle = host.MakeBundle(id, args);
        _created.Add((runtime, id, bundle));
        var logPath = Path.Combine(host.Root, "logs", id, "0.log");
        return (runtime, id, bundle, new ContainerLaunch(id, "ctr-" + id, bundle, runtime, logPath));
    }

    static async Task<T> Within<T>(Task<T> task, TimeSpan limit, string what) =>
        await Task.WhenAny(task, Task.Delay(limit)) == task ? await task : throw new TimeoutException($"{what} not within {limit.TotalSeconds}s");

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task ShortContainer_ReportsPid_WritesCriLog_AndExitCode(string handler)
    {
        var (runtime, id, bundle, launch) = Prepare(handler, "/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3");
        var monitor = host.Monitor();

        var process = await monitor.CreateAsync(launch);

        Assert.True(process.Pid > 0);
        Assert.True(process.ConmonPid > 0);
        // The runner returned although conmon's daemon lives on: it was not waited for.
        Assert.True(MonitorHost.IsAlive(process.ConmonPid), "conmon daemon should outlive the launcher");
        Assert.Equal("created", (await runtime.StateAsync(id))!.Status);
        Assert.True(File.Exists(((IContainerMonitor)monitor).AttachSocketOf(id)), "attach socket");

        var started = Stopwatch.StartNew();
        await runtime.StartAsync(id);
        var (code, finishedAt) = await Within(ExitOf(id).Task, TimeSpan.FromSeconds(2), "exit event");
        output.WriteLine($"{handler}: exit {code} seen {started.ElapsedMilliseconds} ms after start");
        Assert.Equal(3, code);
        Assert.True(finishedAt > DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal(3, _watcher!.ReadExitFile(id)!.ExitCode);

        var lines = await File.ReadAllLinesAsync(launch.LogPath);
        output.WriteLine(string.Join("\n", lines));
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Matches(new Regex(@"^\S+ (stdout|stderr) F (out|err)$"), l));
        Assert.Contains(lines, l => l.EndsWith(" stdout F out", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" stderr F err", StringComparison.Ordinal));
        Assert.False(OomDetector.HasOomFile(bundle));

        Assert.Equal("stopped", (await runtime.StateAsync(id))!.Status);
        await runtime.KillAsync(id, 9, all: false); // already stopped: not an error
        await runtime.DeleteAsync(id, force: false);
        await runtime.DeleteAsync(id, force: false); // already gone: not an error
        Assert.Null(await runtime.StateAsync(id));
        Assert.DoesNotContain(id, await runtime.ListAsync());
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task LongContainer_KilledBySignal_ExitFileSays128PlusSignal(string handler)
    {
        var (runtime, id, _, launch) = Prepare(handler, "/bin/busybox", "sleep", "1000");
        var process = await host.Monitor().CreateAsync(launch);
        await runtime.StartAsync(id);
        var state = await runtime.StateAsync(id);
        Assert.Equal("running", state!.Status);
        Assert.Equal(process.Pid, state.Pid);
        Assert.Contains(id, await runtime.ListAsync());
        // The sync pipe went to conmon only: the container holds nothing beyond its stdio.
        Assert.Equal(["0", "1", "2"], Directory.GetFileSystemEntries($"/proc/{process.Pid}/fd").Select(Path.GetFileName).Order());

        // PID 1 of a pid namespace ignores SIGTERM without a handler, so escalate as StopContainer does.
        await runtime.KillAsync(id, 15, all: false);
        var exit = ExitOf(id).Task;
        if (await Task.WhenAny(exit, Task.Delay(500)) != exit) await runtime.KillAsync(id, 9, all: true);
        var (code, _) = await Within(exit, TimeSpan.FromSeconds(2), "exit event after kill");
        Assert.Contains(code, new[] { 137, 143 });
        await runtime.KillAsync(id, 9, all: true); // stopped now: not an error
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task MissingBinary_FailsFast_WithTheRuntimesMessage(string handler)
    {
        var (_, _, _, launch) = Prepare(handler, "/bin/nonexistent-binary");
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<RuntimeCreateException>(() => host.Monitor().CreateAsync(launch));
        output.WriteLine($"{sw.ElapsedMilliseconds} ms: {e.Message}");
        Assert.Contains("nonexistent-binary", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task ReopenLog_AfterRotation_WritesToAFreshFile(string handler)
    {
        var (runtime, id, bundle, launch) = Prepare(handler, "/bin/busybox", "sh", "-c", "while true; do echo tick; sleep 0.1; done");
        var monitor = host.Monitor();
        await monitor.CreateAsync(launch);
        await runtime.StartAsync(id);
        await WaitForAsync(() => File.Exists(launch.LogPath) && new FileInfo(launch.LogPath).Length > 0, "first log line");

        var rotated = launch.LogPath + ".1";
        File.Move(launch.LogPath, rotated);
        await ConmonMonitor.ReopenLogAsync(bundle, launch.LogPath, TimeSpan.FromSeconds(5));
        await WaitForAsync(() => File.Exists(launch.LogPath) && File.ReadAllText(launch.LogPath).Contains(" stdout F tick"), "tick in the reopened log");
        var rotatedSize = new FileInfo(rotated).Length;
        await Task.Delay(300);
        Assert.Equal(rotatedSize, new FileInfo(rotated).Length); // nothing more goes to the old file

        await runtime.KillAsync(id, 9, all: true);
        await Within(ExitOf(id).Task, TimeSpan.FromSeconds(2), "exit event");
        // conmon is gone: reopening must fail at once instead of blocking on the FIFO.
        await WaitForAsync(() => !MonitorHost.IsAlive(ConmonMonitor.ReadConmonPid(bundle) ?? 0), "conmon exit");
        await Assert.ThrowsAsync<InvalidOperationException>(() => monitor.ReopenLogAsync(bundle, ""));
    }

    static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(5)) throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }
}
