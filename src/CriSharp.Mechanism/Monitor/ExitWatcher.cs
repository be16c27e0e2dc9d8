using System.Collections.Concurrent;
using System.Globalization;

namespace CriSharp.Mechanism.Monitor;

/// <summary>A container's init process ended: conmon wrote its exit code (128+signal when killed).</summary>
public sealed record ContainerExit(string Id, int ExitCode, DateTimeOffset FinishedAt);

/// <summary>
/// Watches conmon's exit directory (inotify, through FileSystemWatcher) for the `&lt;id&gt;` files conmon writes
/// when a container ends, and raises <see cref="ContainerExited"/> once per file. conmon writes them atomically
/// (temp file + rename), but a file seen while still empty or half-written is re-read until it parses.
/// An exit counts as reported only once the handlers returned: one that throws (its record could not be written,
/// e.g. a full disk) gets the exit again with backoff, and after a restart from the exit file that stays.
/// </summary>
public sealed class ExitWatcher : IDisposable
{
    readonly string _exitDir;
    readonly FileSystemWatcher _watcher;
    // Id → the exit file's modification time already reported, so repeated inotify events raise once.
    readonly ConcurrentDictionary<string, DateTime> _reported = new();
    readonly ConcurrentDictionary<string, byte> _pending = new();
    readonly CancellationTokenSource _stop = new();
    readonly TimeSpan _parseWindow;
    readonly Serilog.ILogger? _log;

    /// <summary>First and longest wait before a failed handler gets an exit again.</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250), LongestRetry = TimeSpan.FromSeconds(5);

    /// <summary>Raised on a thread-pool thread for each container exit: (id, exit code, finished at).</summary>
    public event Action<string, int, DateTimeOffset>? ContainerExited;

    public ExitWatcher(string exitDir, TimeSpan? parseWindow = null, Serilog.ILogger? log = null)
    {
        _exitDir = exitDir;
        _log = log;
        _parseWindow = parseWindow ?? TimeSpan.FromSeconds(5);
        Directory.CreateDirectory(exitDir);
        _watcher = new FileSystemWatcher(exitDir)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
            IncludeSubdirectories = false,
        };
        _watcher.Created += (_, e) => Schedule(e.Name);
        _watcher.Changed += (_, e) => Schedule(e.Name);
        _watcher.Renamed += (_, e) => Schedule(e.Name);
        // The inotify queue overflowed: look at everything so no exit is lost.
        _watcher.Error += (_, _) => Rescan();
    }

    /// <summary>Begins watching; exit files already present are reported too (containers that ended while nobody watched).</summary>
    public void Start()
    {
        _watcher.EnableRaisingEvents = true;
        Rescan();
    }

    /// <summary>The exit recorded for <paramref name="id"/>, or null if conmon has not written one (yet).</summary>
    public ContainerExit? ReadExitFile(string id) => TryRead(id, out var exited) ? exited : null;

    /// <summary>Removes the exit file and forgets <paramref name="id"/> (container removed).</summary>
    public void Forget(string id)
    {
        try { File.Delete(Path.Combine(_exitDir, id)); } catch (IOException) { }
        _reported.TryRemove(id, out _);
    }

    void Rescan()
    {
        try
        {
            foreach (var path in Directory.EnumerateFiles(_exitDir)) Schedule(Path.GetFileName(path));
        }
        catch (IOException)
        {
            // The directory vanished; nothing to report.
        }
    }

    void Schedule(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('/') || _stop.IsCancellationRequested) return;
        if (!_pending.TryAdd(name, 0)) return; // a reader for this file is already busy
        _ = Task.Run(() => ReadUntilParsedAsync(name));
    }

    async Task ReadUntilParsedAsync(string id)
    {
        try
        {
            var deadline = DateTime.UtcNow + _parseWindow;
            while (!_stop.IsCancellationRequested)
            {
                var path = Path.Combine(_exitDir, id);
                if (!File.Exists(path)) return; // e.g. conmon's temp file, already renamed
                if (TryRead(id, out var exited))
                {
                    await DeliverAsync(exited);
                    return;
                }
                if (DateTime.UtcNow > deadline) return; // never became a number: not an exit file
                await Task.Delay(25, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Raises the exit until every handler took it; re-read before each retry (removed meanwhile: dropped).</summary>
    async Task DeliverAsync(ContainerExit exited)
    {
        var delay = FirstRetry;
        while (true)
        {
            var stamp = exited.FinishedAt.UtcDateTime;
            if (_reported.TryGetValue(exited.Id, out var seen) && seen == stamp) return;
            try
            {
                ContainerExited?.Invoke(exited.Id, exited.ExitCode, exited.FinishedAt);
                _reported[exited.Id] = stamp;
                return;
            }
            catch (Exception e)
            {
                _log?.Warning("exit of container {ContainerId} (code {ExitCode}) could not be recorded, trying again in {Delay}: {Error}",
                    exited.Id, exited.ExitCode, delay, e.Message);
            }
            await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            delay = delay * 2 < LongestRetry ? delay * 2 : LongestRetry;
            if (!TryRead(exited.Id, out exited)) return;
        }
    }

    bool TryRead(string id, out ContainerExit exited)
    {
        exited = null!;
        var path = Path.Combine(_exitDir, id);
        try
        {
            var text = File.ReadAllText(path).Trim();
            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code)) return false;
            exited = new ContainerExit(id, code, new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _watcher.Dispose();
        _stop.Dispose();
    }
}
