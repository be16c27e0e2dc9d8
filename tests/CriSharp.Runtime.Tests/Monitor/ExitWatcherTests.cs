using CriSharp.Runtime.Monitor;

namespace CriSharp.Runtime.Tests.Monitor;

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
}
