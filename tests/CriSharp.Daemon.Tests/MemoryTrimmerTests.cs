using Serilog;

namespace CriSharp.Daemon.Tests;

// Counts full collections of the test process: nothing else may run (and collect) meanwhile.
[CollectionDefinition(nameof(MemoryTrimmerTests), DisableParallelization = true)]
public class MemoryTrimmerCollection;

[Collection(nameof(MemoryTrimmerTests))]
public class MemoryTrimmerTests
{
    [Theory]
    [InlineData(0, 0, false)]                                                   // nothing happened
    [InlineData(MemoryTrimmer.BurstBytes - 1, 0, false)]                          // too little since the last trim
    [InlineData(MemoryTrimmer.BurstBytes, MemoryTrimmer.QuietBytes, false)]       // still busy: wait for the burst to end
    [InlineData(MemoryTrimmer.BurstBytes * 10, MemoryTrimmer.BurstBytes * 2, false)]
    [InlineData(MemoryTrimmer.BurstBytes, MemoryTrimmer.QuietBytes - 1, true)]    // a burst, then a quiet interval
    [InlineData(MemoryTrimmer.BurstBytes * 10, 0, true)]
    public void Trims_only_after_a_burst_has_ended(long sinceLastTrim, long lastInterval, bool expected) =>
        Assert.Equal(expected, MemoryTrimmer.ShouldTrim(sinceLastTrim, lastInterval));

    [Fact]
    public async Task A_trim_runs_a_full_collection_and_trims_the_C_heap()
    {
        await using var trimmer = new MemoryTrimmer(new LoggerConfiguration().CreateLogger());
        var fullCollections = GC.CollectionCount(GC.MaxGeneration);
        trimmer.Trim(); // malloc_trim through the libc import must resolve and return
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > fullCollections);
    }

    [Fact]
    public async Task The_loop_trims_by_itself_after_a_burst()
    {
        await using var trimmer = new MemoryTrimmer(new LoggerConfiguration().CreateLogger());
        trimmer.Start();
        var fullCollections = GC.CollectionCount(GC.MaxGeneration);
        // A burst of small (never large-object-heap) allocations well past the threshold, then quiet.
        var sink = 0L;
        for (var i = 0; i < 2 * MemoryTrimmer.BurstBytes / 1024; i++) sink += new byte[1024].Length;
        Assert.True(sink >= MemoryTrimmer.BurstBytes);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (GC.CollectionCount(GC.MaxGeneration) == fullCollections && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > fullCollections, "no full collection within 30 s of a burst");
    }
}
