using CriSharp.Mechanism.Cgroups.V2;
using CriSharp.Mechanism.Monitor;

namespace CriSharp.Runtime.Tests.Mechanism.Monitor;

/// <summary>The exit-directory watcher without conmon: partial writes, renames, duplicates, recovery reads, OOM counters.</summary>
public sealed class ExitWatcherTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "crisharp-exits-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task EmptyFileThenWritten_IsReportedOnceWithTheCode()
    {
        using var watcher = new ExitWatcher(_dir);
        var events = new List<(string Id, int Code)>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.ContainerExited += (id, code, _) => { lock (events) events.Add((id, code)); first.TrySetResult(); };
        watcher.Start();

        var path = Path.Combine(_dir, "abc");
        await File.WriteAllTextAsync(path, "");
        await Task.Delay(200);
        await File.WriteAllTextAsync(path, "42");

        Assert.Same(first.Task, await Task.WhenAny(first.Task, Task.Delay(TimeSpan.FromSeconds(1))));
        await Task.Delay(300); // any duplicate would arrive by now
        lock (events) Assert.Equal([("abc", 42)], events);
        Assert.Equal(42, watcher.ReadExitFile("abc")!.ExitCode);
        Assert.Null(watcher.ReadExitFile("missing"));
    }

    [Fact]
    public async Task AtomicRename_AndFilesPresentBeforeStart_AreReported()
    {
        Directory.CreateDirectory(_dir);
        await File.WriteAllTextAsync(Path.Combine(_dir, "old"), "0");
        using var watcher = new ExitWatcher(_dir);
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        watcher.ContainerExited += (id, code, _) => seen[id] = code;
        watcher.Start();

        var temp = Path.Combine(_dir, "new.XY12ab");
        await File.WriteAllTextAsync(temp, "137");
        File.Move(temp, Path.Combine(_dir, "new"));

        var deadline = DateTime.UtcNow.AddSeconds(1);
        while ((!seen.ContainsKey("new") || !seen.ContainsKey("old")) && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(137, seen["new"]);
        Assert.Equal(0, seen["old"]);
        watcher.Forget("new");
        Assert.False(File.Exists(Path.Combine(_dir, "new")));
    }

    [Fact]
    public async Task An_exit_whose_handler_fails_is_delivered_again_until_it_is_taken()
    {
        using var watcher = new ExitWatcher(_dir);
        var attempts = 0;
        var taken = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.ContainerExited += (id, code, _) =>
        {
            // The record store is full for the first two attempts.
            if (Interlocked.Increment(ref attempts) <= 2) throw new IOException("No space left on device");
            taken.TrySetResult(code);
        };
        watcher.Start();
        await File.WriteAllTextAsync(Path.Combine(_dir, "full"), "3");

        Assert.Same(taken.Task, await Task.WhenAny(taken.Task, Task.Delay(TimeSpan.FromSeconds(5))));
        Assert.Equal(3, await taken.Task);
        await Task.Delay(ExitWatcher.FirstRetry * 3); // a delivery that was not marked reported would repeat by now
        Assert.Equal(3, Volatile.Read(ref attempts));
    }

    [Fact]
    public async Task A_failing_exit_stops_being_retried_once_the_container_is_forgotten()
    {
        using var watcher = new ExitWatcher(_dir);
        var attempts = 0;
        watcher.ContainerExited += (_, _, _) => { Interlocked.Increment(ref attempts); throw new IOException("No space left on device"); };
        watcher.Start();
        await File.WriteAllTextAsync(Path.Combine(_dir, "gone"), "1");
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Volatile.Read(ref attempts) == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(Volatile.Read(ref attempts) > 0, "the exit was never delivered");
        watcher.Forget("gone");
        var after = Volatile.Read(ref attempts);
        await Task.Delay(ExitWatcher.FirstRetry * 8);
        Assert.InRange(Volatile.Read(ref attempts), after, after + 1);
    }

    [Fact]
    public void OomDetector_ReadsV1AndV2Counters_AndConmonsMarker()
    {
        var v1 = Directory.CreateDirectory(Path.Combine(_dir, "v1")).FullName;
        var v2 = Directory.CreateDirectory(Path.Combine(_dir, "v2")).FullName;
        File.WriteAllText(Path.Combine(v1, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
        File.WriteAllText(Path.Combine(v2, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        Assert.False(OomDetector.WasOomKilled([v1, Path.Combine(_dir, "gone")]));
        Assert.True(OomDetector.WasOomKilled([v1, v2]));
        Assert.False(OomDetector.HasOomFile(v1));
        File.WriteAllText(Path.Combine(v1, "oom"), "");
        Assert.True(OomDetector.WasOomKilled(v1, []));
    }

    [Fact]
    public void OomDetector_AsksTheManager_AfterConmonsMarker()
    {
        var cgroups = new CgroupfsV2Manager(Directory.CreateDirectory(Path.Combine(_dir, "unified")).FullName);
        var dir = Directory.CreateDirectory(cgroups.DirOf("/pod/ctr")).FullName;
        var bundle = Directory.CreateDirectory(Path.Combine(_dir, "bundle")).FullName;
        Assert.False(OomDetector.WasOomKilled(cgroups, "/pod/ctr", bundle));
        File.WriteAllText(Path.Combine(dir, "memory.events"), "oom 1\noom_kill 1\n");
        Assert.True(OomDetector.WasOomKilled(cgroups, "/pod/ctr", bundle));
        Assert.False(OomDetector.WasOomKilled(cgroups, "", bundle)); // no cgroup: only the marker would count
        File.WriteAllText(Path.Combine(bundle, "oom"), "");
        Assert.True(OomDetector.WasOomKilled(cgroups, "", bundle));
        Assert.True(OomDetector.WasOomKilled(cgroups, "/", bundle)); // the marker comes first: the path is not looked at
    }
}
