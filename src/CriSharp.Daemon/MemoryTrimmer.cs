using CriSharp.Linux;
using ILogger = Serilog.ILogger;

namespace CriSharp.Daemon;

/// <summary>
/// Gives memory back once a burst of work is over. A node agent spends most of its life idle between
/// kubelet's polls; after a burst (pods starting, a pull) the GC keeps its grown generation-0 budget and
/// freed regions resident. Once per <see cref="Interval"/> this samples the bytes allocated: when at
/// least <see cref="BurstBytes"/> were allocated since the last trim and the last interval allocated
/// less than <see cref="QuietBytes"/> (the burst has ended), it runs one compacting, decommitting
/// collection and trims the C heap. Steady polling never triggers it more than once per burst-sized
/// amount of allocation, and a busy daemon is never interrupted mid-burst.
/// </summary>
public sealed class MemoryTrimmer(ILogger logger) : IAsyncDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    public const long BurstBytes = 4L << 20;
    public const long QuietBytes = 1L << 20;

    readonly CancellationTokenSource _stop = new();
    Task? _loop;

    public void Start()
    {
        var allocated = GC.GetTotalAllocatedBytes();
        _loop = Task.Run(() => RunAsync(allocated, _stop.Token));
    }

    async Task RunAsync(long allocatedAtStart, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Interval);
        var atLastTrim = allocatedAtStart;
        var previous = atLastTrim;
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var now = GC.GetTotalAllocatedBytes();
                if (ShouldTrim(now - atLastTrim, now - previous))
                {
                    Trim();
                    now = GC.GetTotalAllocatedBytes();
                    atLastTrim = now;
                }
                previous = now;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The rule: a burst happened since the last trim and the last interval was quiet.</summary>
    public static bool ShouldTrim(long sinceLastTrim, long lastInterval) =>
        sinceLastTrim >= BurstBytes && lastInterval < QuietBytes;

    internal void Trim()
    {
        var before = Environment.WorkingSet;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        NativeHeap.Trim();
        logger.Debug("memory trimmed after a burst in {DurationMs:F1} ms: working set {BeforeMiB:F1} -> {AfterMiB:F1} MiB",
            System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, before / 1048576.0, Environment.WorkingSet / 1048576.0);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop != null) await _loop;
        _stop.Dispose();
    }
}
