using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;

namespace CriSharp.Runtime.Containers;

/// <summary>StopContainer (stop signal, then SIGKILL) and exit tracking from conmon's exit files.</summary>
public sealed partial class ContainerManager
{
    /// <summary>How long after SIGKILL the monitor has to report the exit before the runtime's own state decides.</summary>
    internal TimeSpan KillGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Stop signal, then SIGKILL after <paramref name="timeoutSeconds"/>; idempotent.</summary>
    public async Task StopAsync(string id, long timeoutSeconds, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        using var _ = await _locks.AcquireAsync(c.Id, ct);
        await StopLockedAsync(c.Id, timeoutSeconds, ct);
    }

    async Task StopLockedAsync(string id, long timeoutSeconds, CancellationToken ct)
    {
        var c = _containers.Get(id);
        if (c == null || c.State is ContainerState.Exited or ContainerState.Unknown) return;
        var runtime = RuntimeFor(c.RuntimeHandler);
        if (c.State == ContainerState.Created)
        {
            // Never started: there is no process to signal; record it as exited.
            await runtime.DeleteAsync(id, force: true);
            _containers.Update(id, r => r with { State = ContainerState.Exited, FinishedAt = Naming.NowNanos(), ExitCode = 0, Reason = ContainerRecord.NeverStartedReason });
            ReleaseImageVolumes(c);
            return;
        }
        var exited = ExitWaiter(id);
        if (timeoutSeconds > 0)
        {
            await runtime.KillAsync(id, c.StopSignal, all: false);
            if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(timeoutSeconds), ct)) == exited) return;
        }
        await runtime.KillAsync(id, Signals.SIGKILL, all: true);
        if (await Task.WhenAny(exited, Task.Delay(KillGrace, ct)) != exited)
        {
            // conmon should have written the exit file by now; read the runtime's view instead of waiting forever.
            var state = await runtime.StateAsync(id);
            if (state == null || state.Status == "stopped")
                _containers.Update(id, r => r.State == ContainerState.Running
                    ? r with { State = ContainerState.Exited, ExitCode = 137, FinishedAt = Naming.NowNanos(), Reason = "Error" } : r);
            else
                throw new WrongStateException($"container {id} did not stop within {KillGrace.TotalSeconds:0.#} s of SIGKILL");
        }
    }

    Task ExitWaiter(string id)
    {
        var tcs = _exitWaiters.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        // The exit may have been recorded between our read and the registration.
        if (_containers.Get(id) is { State: ContainerState.Exited }) tcs.TrySetResult();
        return tcs.Task;
    }

    void OnExited(string id, int exitCode, DateTimeOffset finishedAt)
    {
        var c = _containers.Get(id);
        if (c == null) return;
        // conmon's marker in the bundle first (it outlives the cgroup), then the cgroup's own counter.
        var oom = exitCode != 0 && OomDetector.WasOomKilled(_cgroups, c.CgroupPath, c.BundleDir);
        _containers.Update(id, r => r.State == ContainerState.Exited ? r : r with
        {
            State = ContainerState.Exited,
            ExitCode = exitCode,
            FinishedAt = Math.Max((finishedAt - DateTimeOffset.UnixEpoch).Ticks * 100, r.StartedAt),
            Reason = oom ? "OOMKilled" : exitCode == 0 ? "Completed" : "Error",
        });
        // Before the waiters go on: a StopContainer that returns has its image volumes unmounted.
        ReleaseImageVolumes(c);
        if (_exitWaiters.TryRemove(id, out var tcs)) tcs.TrySetResult();
        _log.Information("container {ContainerId} exited with code {ExitCode}{Oom}", id, exitCode, oom ? " (OOM killed)" : "");
    }

    /// <summary>For StopPodSandbox (stop with timeout 0) and RemovePodSandbox (remove).</summary>
    public async Task StopOrRemoveInPodAsync(string sandboxId, bool remove, CancellationToken ct)
    {
        if (_creating.TryGetValue(sandboxId, out var creating) && !creating.IsEmpty)
        {
            // Their failures are their callers' to see; here only their end matters.
            try { await Task.WhenAll(creating.Keys).WaitAsync(ct); }
            catch (Exception e) when (e is not OperationCanceledException) { }
        }
        if (remove) _creating.TryRemove(sandboxId, out _);
        var inPod = _containers.All().Where(c => c.SandboxId == sandboxId).ToList();
        await Task.WhenAll(inPod.Select(c => remove ? RemoveAsync(c.Id, ct) : StopAsync(c.Id, 0, ct)));
    }
}
