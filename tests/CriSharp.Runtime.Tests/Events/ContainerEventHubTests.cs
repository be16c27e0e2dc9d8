using System.Threading.Channels;
using CriSharp.Mechanism;
using CriSharp.Model;
using CriSharp.Runtime.Events;
using CriSharp.Runtime.Tests.Linux;
using CriSharp.State;

namespace CriSharp.Runtime.Tests.Events;

public sealed class ContainerEventHubTests : IDisposable
{
    readonly TempDir _dir = new();
    readonly RecordIndex<ContainerRecord> _containers;
    readonly RecordIndex<PodSandbox> _sandboxes;

    public ContainerEventHubTests()
    {
        _containers = RuntimeRecords.Containers(_dir.Path);
        _sandboxes = RuntimeRecords.Sandboxes(_dir.Path);
    }

    public void Dispose() => _dir.Dispose();

    ContainerEventHub Hub(int capacity = ContainerEventHub.DefaultCapacity) =>
        new(_containers, _sandboxes, Serilog.Core.Logger.None, capacity);

    static PodSandbox Pod(string id) => new()
    {
        Id = id,
        Spec = new SandboxSpec { Name = "p-" + id, Uid = "u-" + id, Namespace = "ns" },
        RuntimeHandler = "runc",
        Dir = "/nonexistent",
    };

    static ContainerRecord Container(string id, string pod) => new()
    {
        Id = id,
        SandboxId = pod,
        Spec = new ContainerSpec { Name = "c-" + id, Image = "busybox" },
        ImageId = "sha256:x",
        RuntimeHandler = "runc",
        BundleDir = "/nonexistent",
        LayerDir = "/nonexistent",
        CreatedAt = Naming.NowNanos(),
    };

    void Lifecycle(string id, string pod)
    {
        _containers.Put(Container(id, pod));
        _containers.Update(id, r => r with { State = ContainerState.Running, StartedAt = Naming.NowNanos() });
        _containers.Update(id, r => r with { Message = "touched" }); // a change that is not a state change
        _containers.Update(id, r => r with { State = ContainerState.Exited, ExitCode = 0, Reason = "Completed" });
        _containers.Remove(id);
    }

    static List<ContainerEvent> Drain(ContainerEventSubscription s)
    {
        var list = new List<ContainerEvent>();
        while (s.Reader.TryRead(out var e)) list.Add(e);
        return list;
    }

    static readonly ContainerEventKind[] FullLifecycle =
        [ContainerEventKind.Created, ContainerEventKind.Started, ContainerEventKind.Stopped, ContainerEventKind.Deleted];

    [Fact]
    public void A_container_lifecycle_is_created_started_stopped_deleted_with_pod_snapshots()
    {
        using var hub = Hub();
        _sandboxes.Put(Pod("p1"));
        using var sub = hub.Subscribe();
        Lifecycle("c1", "p1");

        var events = Drain(sub);
        Assert.Equal(FullLifecycle, events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal("c1", e.ContainerId));
        Assert.All(events, e => Assert.Equal("p1", e.Sandbox?.Id));
        Assert.Equal(ContainerState.Created, events[0].Containers.Single().State);
        Assert.Equal(ContainerState.Running, events[1].Containers.Single().State);
        Assert.Equal(ContainerState.Exited, events[2].Containers.Single().State);
        Assert.Empty(events[3].Containers);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.CreatedAt <= p.Second.CreatedAt), "created_at is monotonic");
    }

    [Fact]
    public void Every_subscriber_gets_every_event_and_a_disposed_one_stops_receiving()
    {
        using var hub = Hub();
        _sandboxes.Put(Pod("p1"));
        using var a = hub.Subscribe();
        var b = hub.Subscribe();
        Assert.Equal(2, hub.SubscriberCount);
        Lifecycle("c1", "p1");
        Assert.Equal(FullLifecycle, Drain(a).Select(e => e.Kind));
        Assert.Equal(FullLifecycle, Drain(b).Select(e => e.Kind));

        b.Dispose();
        Assert.Equal(1, hub.SubscriberCount);
        Assert.True(b.Reader.Completion.IsCompleted, "an unsubscribed reader is completed");
        Lifecycle("c2", "p1");
        Assert.Equal(4, Drain(a).Count);
        Assert.Empty(Drain(b));
    }

    [Fact]
    public async Task A_burst_of_100_containers_from_many_threads_loses_nothing_and_keeps_per_container_order()
    {
        using var hub = Hub();
        _sandboxes.Put(Pod("p1"));
        var subs = Enumerable.Range(0, 3).Select(_ => hub.Subscribe()).ToList();
        var ids = Enumerable.Range(0, 100).Select(i => $"c{i:D3}").ToList();
        await Task.WhenAll(ids.Select(id => Task.Run(() => Lifecycle(id, "p1"))));

        var orders = new List<List<ContainerEvent>>();
        foreach (var s in subs)
        {
            var events = Drain(s).Where(e => e.ContainerId != "p1").ToList();
            Assert.Equal(400, events.Count);
            foreach (var id in ids)
                Assert.Equal(FullLifecycle, events.Where(e => e.ContainerId == id).Select(e => e.Kind));
            orders.Add(events);
        }
        // One global order, the same for everybody.
        Assert.All(orders, o => Assert.Equal(orders[0].Select(e => (e.ContainerId, e.Kind)), o.Select(e => (e.ContainerId, e.Kind))));
        foreach (var s in subs) s.Dispose();
    }

    [Fact]
    public void Racing_notifications_never_go_backwards_and_skipped_steps_are_filled_in()
    {
        using var hub = Hub();
        _sandboxes.Put(Pod("p1"));
        using var sub = hub.Subscribe();
        _containers.Put(Container("c1", "p1"));
        // A process that exits before StartContainer records the start: Created → Exited directly.
        _containers.Update("c1", r => r with { State = ContainerState.Exited, Reason = "Error", ExitCode = 1 });
        _containers.Update("c1", r => r with { StartedAt = Naming.NowNanos() });
        Assert.Equal(
            [ContainerEventKind.Created, ContainerEventKind.Started, ContainerEventKind.Stopped],
            Drain(sub).Select(e => e.Kind));

        // A container stopped before it was started never gets STARTED.
        _containers.Put(Container("c2", "p1"));
        _containers.Update("c2", r => r with { State = ContainerState.Exited, Reason = "Created" });
        _containers.Remove("c2");
        Assert.Equal(
            [ContainerEventKind.Created, ContainerEventKind.Stopped, ContainerEventKind.Deleted],
            Drain(sub).Select(e => e.Kind));
    }

    [Fact]
    public void Pod_sandboxes_emit_events_with_the_sandbox_id_and_keep_their_status_on_delete()
    {
        using var hub = Hub();
        using var sub = hub.Subscribe();
        _sandboxes.Put(Pod("p1"));
        _sandboxes.Update("p1", p => p with { Ips = ["10.0.0.1"] }); // not a state change
        _sandboxes.Update("p1", p => p with { State = SandboxState.NotReady });
        _sandboxes.Remove("p1");
        var events = Drain(sub);
        Assert.Equal(FullLifecycle, events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal("p1", e.ContainerId));
        Assert.Equal(SandboxState.NotReady, events[3].Sandbox?.State);
    }

    [Fact]
    public void Seeded_records_are_not_replayed()
    {
        _sandboxes.Put(Pod("p1"));
        _containers.Put(Container("c1", "p1") with { State = ContainerState.Running });
        using var hub = Hub();
        hub.Seed();
        using var sub = hub.Subscribe();
        _containers.Update("c1", r => r with { Message = "touched" });
        Assert.Empty(Drain(sub));
        _containers.Update("c1", r => r with { State = ContainerState.Exited });
        Assert.Equal([ContainerEventKind.Stopped], Drain(sub).Select(e => e.Kind));
    }

    [Fact]
    public async Task A_subscriber_that_falls_behind_is_closed_with_an_error_not_thinned()
    {
        using var hub = Hub(capacity: 5);
        _sandboxes.Put(Pod("p1"));
        var slow = hub.Subscribe();
        using var fast = hub.Subscribe();
        var fastEvents = new List<ContainerEvent>();
        Lifecycle("c1", "p1");
        fastEvents.AddRange(Drain(fast));
        Lifecycle("c2", "p1"); // slow now has 8 > 5 queued
        fastEvents.AddRange(Drain(fast));

        Assert.Equal(8, fastEvents.Count);
        Assert.Equal(1, hub.SubscriberCount);
        var read = new List<ContainerEvent>();
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var e in slow.Reader.ReadAllAsync()) read.Add(e);
        });
        Assert.True(error is ContainerEventOverflowException || error is ChannelClosedException { InnerException: ContainerEventOverflowException }, error.ToString());
        Assert.Equal(5, read.Count); // what was queued before the overflow is still delivered, in order
        slow.Dispose();
    }

    [Fact]
    public void An_oom_kill_is_counted()
    {
        using var hub = Hub();
        long count = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == RuntimeMetrics.MeterName && i.Name == "crisharp.container.oom_kills") l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref count, v));
        listener.Start();
        _sandboxes.Put(Pod("p1"));
        _containers.Put(Container("c1", "p1") with { State = ContainerState.Running });
        _containers.Update("c1", r => r with { State = ContainerState.Exited, Reason = "OOMKilled", ExitCode = 137 });
        Assert.Equal(1, Interlocked.Read(ref count));
    }

    [Fact]
    public void Steps_fill_in_skipped_positions()
    {
        Assert.Equal([ContainerEventKind.Created], ContainerEventHub.Steps(-1, 0, ran: true));
        Assert.Equal([ContainerEventKind.Started, ContainerEventKind.Stopped], ContainerEventHub.Steps(0, 2, ran: true));
        Assert.Equal([ContainerEventKind.Stopped], ContainerEventHub.Steps(0, 2, ran: false));
        Assert.Empty(ContainerEventHub.Steps(2, 1, ran: true));
        Assert.Empty(ContainerEventHub.Steps(1, 1, ran: true));
    }
}
