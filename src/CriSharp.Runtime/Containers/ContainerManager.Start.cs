
using CriSharp.Model;

namespace CriSharp.Runtime.Containers;

/// <summary>StartContainer.</summary>
public sealed partial class ContainerManager
{
    public async Task StartAsync(string id, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        using var _ = await _locks.AcquireAsync(c.Id, ct);
        c = _containers.Get(c.Id)!;
        if (c.State != ContainerState.Created)
            throw new WrongStateException($"container {c.Id} is {c.State.ToString().ToLowerInvariant()}, not created");
        // Taken before the start: a process that exits at once must never finish before it "started".
        var started = Naming.NowNanos();
        await RuntimeFor(c.RuntimeHandler).StartAsync(c.Id);
        // The exit may already have been recorded if the process ended at once; keep that, add the start time.
        // File timestamps (conmon's exit file) use the kernel's coarse clock and can read a few ms early:
        // never report a finish before the start.
        _containers.Update(c.Id, r => r with
        {
            StartedAt = started,
            State = r.State == ContainerState.Created ? ContainerState.Running : r.State,
            FinishedAt = r.State == ContainerState.Exited ? Math.Max(r.FinishedAt, started) : r.FinishedAt,
        });
        _log.Information("container {ContainerId} started", c.Id);
    }
}
