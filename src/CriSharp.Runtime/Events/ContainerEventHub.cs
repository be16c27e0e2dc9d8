using System.Threading.Channels;
using CriSharp.Mechanism;
using CriSharp.Model;
using CriSharp.State;
using Serilog;

namespace CriSharp.Runtime.Events;

/// <summary>What happened to a container (or, with the sandbox id as container id, to a pod sandbox).</summary>
public enum ContainerEventKind { Created, Started, Stopped, Deleted }

/// <summary>
/// One lifecycle event with a snapshot of the pod taken when it was published: the sandbox (its last known
/// record once removed; null if never seen) and the pod's containers that still exist.
/// </summary>
public sealed record ContainerEvent(
    string ContainerId, ContainerEventKind Kind, long CreatedAt, PodSandbox? Sandbox, IReadOnlyList<ContainerRecord> Containers);

/// <summary>A subscriber fell so far behind that its queue filled up; its stream is ended rather than silently thinned.</summary>
public sealed class ContainerEventOverflowException(int capacity)
    : CriSharpException(ErrorKind.ResourceExhausted, $"the container event stream fell {capacity} events behind and was closed; resubscribe and relist");

/// <summary>
/// Container lifecycle events (CRI GetContainerEvents) derived from the durable container and sandbox records:
/// created, started, stopped and deleted, in order per container, to every subscriber.
/// </summary>
/// <remarks>
/// <see cref="RecordIndex{T}.Changed"/> fires outside the index lock, so two notifications for one record may
/// arrive out of order. The hub therefore ignores the record it is handed and, under its own lock, re-reads the
/// current one: the states it observes are then in write order, possibly with steps skipped, and skipped steps
/// are filled in (Created → Exited yields STARTED then STOPPED). Publishing under the same lock gives every
/// subscriber the same order. Pod sandboxes emit the same events with the sandbox id as container id, as
/// containerd does, because kubelet's evented PLEG drops its pod cache on the sandbox's DELETED event.
/// </remarks>
public sealed class ContainerEventHub : IDisposable
{
    /// <summary>Events a subscriber may have queued before its stream is closed with <see cref="ContainerEventOverflowException"/>.</summary>
    public const int DefaultCapacity = 65_536;
    const int TombstoneLimit = 4096;

    readonly RecordIndex<ContainerRecord> _containers;
    readonly RecordIndex<PodSandbox> _sandboxes;
    readonly ILogger _log;
    readonly int _capacity;
    readonly object _sync = new();
    readonly Dictionary<string, ContainerRecord> _seenContainers = new(StringComparer.Ordinal);
    readonly Dictionary<string, PodSandbox> _seenSandboxes = new(StringComparer.Ordinal);
    // Ids already reported deleted: a late notification for one must not resurrect it.
    readonly HashSet<string> _deleted = new(StringComparer.Ordinal);
    readonly Queue<string> _deletedOrder = new();
    Subscriber[] _subscribers = [];

    public ContainerEventHub(RecordIndex<ContainerRecord> containers, RecordIndex<PodSandbox> sandboxes, ILogger log, int capacity = DefaultCapacity)
    {
        _containers = containers;
        _sandboxes = sandboxes;
        _log = log;
        _capacity = capacity;
        _containers.Changed += OnContainerChanged;
        _sandboxes.Changed += OnSandboxChanged;
    }

    /// <summary>Subscribers currently attached.</summary>
    public int SubscriberCount => Volatile.Read(ref _subscribers).Length;

    /// <summary>Takes the records loaded from disk as already seen, so a restart replays nothing.</summary>
    public void Seed()
    {
        lock (_sync)
        {
            foreach (var c in _containers.All()) _seenContainers[c.Id] = c;
            foreach (var p in _sandboxes.All()) _seenSandboxes[p.Id] = p;
        }
    }

    /// <summary>Starts receiving every event published from now on; dispose to stop.</summary>
    public ContainerEventSubscription Subscribe()
    {
        var channel = Channel.CreateBounded<ContainerEvent>(new BoundedChannelOptions(_capacity)
        {
            SingleReader = true,
            SingleWriter = true, // writes happen under _sync
            FullMode = BoundedChannelFullMode.Wait, // never blocks: TryWrite reports the overflow instead
        });
        var subscriber = new Subscriber(channel);
        lock (_sync) _subscribers = [.. _subscribers, subscriber];
        return new ContainerEventSubscription(channel.Reader, () => Unsubscribe(subscriber));
    }

    void Unsubscribe(Subscriber subscriber)
    {
        lock (_sync) _subscribers = [.. _subscribers.Where(s => s != subscriber)];
        subscriber.Channel.Writer.TryComplete();
    }

    void OnContainerChanged(string id, ContainerRecord? notified)
    {
        try
        {
            lock (_sync) ContainerChangedLocked(id, notified);
        }
        catch (Exception e)
        {
            // Never fail the engine call that changed the record.
            _log.Error(e, "container event for {ContainerId} could not be published", id);
        }
    }

    void ContainerChangedLocked(string id, ContainerRecord? notified)
    {
        if (_deleted.Contains(id)) return;
        var current = _containers.Get(id);
        _seenContainers.TryGetValue(id, out var seen);
        if (current != null)
        {
            foreach (var kind in Steps(Position(seen?.State), Position(current.State), ran: current.Reason != ContainerRecord.NeverStartedReason))
                PublishContainer(current, kind);
            if (Position(current.State) >= 0) _seenContainers[id] = current;
            return;
        }
        // Removed. A record never observed alive is reported from the notification that carried it.
        var last = seen ?? notified;
        if (last == null) return;
        var from = seen == null ? -1 : Position(seen.State);
        foreach (var kind in Steps(from, Stopped, ran: last.Reason != ContainerRecord.NeverStartedReason))
            PublishContainer(last, kind);
        _seenContainers.Remove(id);
        Tombstone(id);
        PublishContainer(last, ContainerEventKind.Deleted);
    }

    void PublishContainer(ContainerRecord c, ContainerEventKind kind)
    {
        if (kind == ContainerEventKind.Stopped && c.Reason == "OOMKilled") RuntimeMetrics.ContainerOomKills.Add(1);
        Publish(c.Id, kind, c.SandboxId);
    }

    void OnSandboxChanged(string id, PodSandbox? notified)
    {
        try
        {
            lock (_sync) SandboxChangedLocked(id, notified);
        }
        catch (Exception e)
        {
            _log.Error(e, "pod sandbox event for {PodId} could not be published", id);
        }
    }

    void SandboxChangedLocked(string id, PodSandbox? notified)
    {
        if (_deleted.Contains(id)) return;
        var current = _sandboxes.Get(id);
        _seenSandboxes.TryGetValue(id, out var seen);
        if (current != null)
        {
            _seenSandboxes[id] = current;
            foreach (var kind in Steps(Position(seen?.State), Position(current.State), ran: true))
                Publish(id, kind, id);
            return;
        }
        var last = seen ?? notified;
        if (last == null) return;
        _seenSandboxes[id] = last; // the DELETED event still carries the pod's last status
        foreach (var kind in Steps(seen == null ? -1 : Position(seen.State), Stopped, ran: true))
            Publish(id, kind, id);
        Publish(id, ContainerEventKind.Deleted, id);
        _seenSandboxes.Remove(id);
        Tombstone(id);
    }

    void Tombstone(string id)
    {
        if (!_deleted.Add(id)) return;
        _deletedOrder.Enqueue(id);
        if (_deletedOrder.Count > TombstoneLimit) _deleted.Remove(_deletedOrder.Dequeue());
    }

    void Publish(string containerId, ContainerEventKind kind, string sandboxId)
    {
        var subscribers = _subscribers;
        if (subscribers.Length == 0) return;
        var sandbox = _sandboxes.Get(sandboxId) ?? _seenSandboxes.GetValueOrDefault(sandboxId);
        var inPod = _containers.All().Where(c => c.SandboxId == sandboxId).OrderBy(c => c.CreatedAt).ToList();
        var e = new ContainerEvent(containerId, kind, Naming.NowNanos(), sandbox, inPod);
        foreach (var s in subscribers)
        {
            if (s.Channel.Writer.TryWrite(e)) continue;
            // Full (or already completed): end this stream loudly instead of dropping events.
            _subscribers = [.. _subscribers.Where(x => x != s)];
            if (s.Channel.Writer.TryComplete(new ContainerEventOverflowException(_capacity)))
                _log.Warning("closing a container event subscriber that fell {Capacity} events behind", _capacity);
        }
    }

    const int Stopped = 2;

    /// <summary>Created = 0, Running = 1, Exited = 2; Unknown (-1) publishes nothing.</summary>
    static int Position(ContainerState? s) => s switch
    {
        ContainerState.Created => 0,
        ContainerState.Running => 1,
        ContainerState.Exited => 2,
        _ => -1,
    };

    /// <summary>A new sandbox is ready (created and started at once); NotReady is stopped.</summary>
    static int Position(SandboxState? s) => s switch
    {
        SandboxState.Ready => 1,
        SandboxState.NotReady => 2,
        _ => -1,
    };

    /// <summary>The events between two observed positions; STARTED is left out for a container that never ran.</summary>
    internal static IEnumerable<ContainerEventKind> Steps(int from, int to, bool ran)
    {
        for (var p = from + 1; p <= to; p++)
        {
            if (p == 1 && to == Stopped && !ran) continue;
            yield return (ContainerEventKind)p;
        }
    }

    public void Dispose()
    {
        _containers.Changed -= OnContainerChanged;
        _sandboxes.Changed -= OnSandboxChanged;
        Subscriber[] all;
        lock (_sync)
        {
            all = _subscribers;
            _subscribers = [];
        }
        foreach (var s in all) s.Channel.Writer.TryComplete();
    }

    sealed record Subscriber(Channel<ContainerEvent> Channel);
}

/// <summary>One subscriber's queue of events; dispose to unsubscribe.</summary>
public sealed class ContainerEventSubscription(ChannelReader<ContainerEvent> reader, Action unsubscribe) : IDisposable
{
    int _disposed;

    /// <summary>Completes with <see cref="ContainerEventOverflowException"/> if the subscriber fell too far behind.</summary>
    public ChannelReader<ContainerEvent> Reader { get; } = reader;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) unsubscribe();
    }
}
