using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Runtime.Containers;

/// <summary>RemoveContainer, and removals a killed daemon left unfinished.</summary>
public sealed partial class ContainerManager
{
    /// <summary>Stops (SIGKILL) and removes every trace of the container. Idempotent.</summary>
    public async Task RemoveAsync(string id, CancellationToken ct)
    {
        var c = _containers.Find(id);
        if (c == null) return;
        using (await _locks.AcquireAsync(c.Id, ct))
        {
            c = _containers.Get(c.Id);
            if (c == null) return;
            // Durable first: a daemon killed in the middle finishes the removal at its next start.
            if (!c.Removing) c = _containers.Update(c.Id, r => r with { Removing = true }) ?? c;
            await StopLockedAsync(c.Id, 0, ct);
            await RuntimeFor(c.RuntimeHandler).DeleteAsync(c.Id, force: true);
            Mounts.Unmount(c.RootfsPath, detach: true);
            // Idmapped clones left by a create cut short (kill -9 between the clone and the runtime's create).
            Mounts.UnmountAllUnder(c.BundleDir);
            _cgroups.Remove(c.CgroupPath);
            DeleteDir(c.BundleDir);
            DeleteDir(c.LayerDir);
            DeleteAttachEntry(c.Id);
            _exits.Forget(c.Id);
            _containers.Remove(c.Id);
            var sandbox = _sandboxes.Get(c.SandboxId);
            if (sandbox != null)
                _names.Release(Naming.ContainerName(c.Spec.Name, sandbox.Spec.Name, sandbox.Spec.Namespace, sandbox.Spec.Uid, c.Spec.Attempt), c.Id);
        }
        _locks.Forget(c.Id);
        _log.Information("container {ContainerId} removed", c.Id);
    }

    /// <summary>After recovery: removals the daemon was killed in the middle of are finished (a failure stays for kubelet's retry).</summary>
    public async Task FinishInterruptedRemovesAsync()
    {
        foreach (var c in _containers.All().Where(c => c.Removing))
        {
            try
            {
                await RemoveAsync(c.Id, CancellationToken.None);
                _log.Information("finished the interrupted removal of container {ContainerId}", c.Id);
            }
            catch (Exception e)
            {
                _log.Error("the interrupted removal of container {ContainerId} could not be finished; it stays listed for a retry: {Error}", c.Id, e.Message);
            }
        }
    }
}
