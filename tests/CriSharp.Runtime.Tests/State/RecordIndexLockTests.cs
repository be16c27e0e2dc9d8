using CriSharp.Model;
using CriSharp.Runtime.Tests.Linux;
using CriSharp.State;

namespace CriSharp.Runtime.Tests.State;

/// <summary>RecordIndex writes: one lock per record, so a slow write of one never holds up another's.</summary>
public sealed class RecordIndexLockTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    static PodSandbox Pod(string id, uint attempt = 0) =>
        new() { Id = id, RuntimeHandler = "runc", Dir = "/nonexistent", Spec = new SandboxSpec { Name = id, Namespace = "ns", Uid = id, Attempt = attempt } };

    [Fact]
    public async Task A_write_of_one_record_does_not_wait_for_a_write_of_another()
    {
        var index = RuntimeRecords.Sandboxes(_dir.Path);
        index.Put(Pod("a"));
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        // The change runs while "a" is being written; it holds that write until released.
        var slow = Task.Run(() => index.Update("a", p => { inside.Set(); release.Wait(TimeSpan.FromSeconds(30)); return p with { Spec = p.Spec with { Attempt = 1 } }; }));
        Assert.True(inside.Wait(TimeSpan.FromSeconds(10)), "the update of a never started");
        var other = Task.Run(() => { index.Put(Pod("b")); index.Update("b", p => p with { Spec = p.Spec with { Attempt = 7 } }); index.Remove("b"); });
        var finished = await Task.WhenAny(other, Task.Delay(TimeSpan.FromSeconds(10)));
        release.Set();
        Assert.Same(other, finished);
        await slow;
        Assert.Equal(1u, index.Get("a")!.Spec.Attempt);
        Assert.Null(index.Get("b"));
        Assert.Equal(["a"], RuntimeRecords.Sandboxes(_dir.Path).Load((_, _, _) => { }).Select(p => p.Id));
    }

    [Fact]
    public async Task Concurrent_updates_of_one_record_are_applied_one_after_another()
    {
        var index = RuntimeRecords.Sandboxes(_dir.Path);
        index.Put(Pod("c"));
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < 25; i++) index.Update("c", p => p with { Spec = p.Spec with { Attempt = p.Spec.Attempt + 1 } });
        })));
        Assert.Equal(200u, index.Get("c")!.Spec.Attempt);
        Assert.Equal(200u, RuntimeRecords.Sandboxes(_dir.Path).Load((_, _, _) => { }).Single().Spec.Attempt);
    }
}
