using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Runtime.Pods;

/// <summary>RemovePodSandbox, and removals a killed daemon left unfinished.</summary>
public sealed partial class PodManager
{
    /// <summary>Removes containers and every trace of the pod. Idempotent.</summary>
    public async Task RemoveAsync(string id, CancellationToken ct)
    {
        var pod = sandboxes.Find(id);
        if (pod == null) return;
        using (await _locks.AcquireAsync(pod.Id, ct))
        {
            pod = sandboxes.Get(pod.Id);
            if (pod == null) return;
            // Durable first (and NotReady, so no create starts in the pod meanwhile): a daemon killed in the middle
            // finishes the removal at its next start.
            if (!pod.Removing)
                pod = sandboxes.Update(pod.Id, p => p with { State = SandboxState.NotReady, Removing = true }) ?? pod;
            await containers.StopOrRemoveInPodAsync(pod.Id, true, ct);
            if (pod.Spec.Security.Namespaces.Network != NamespaceMode.Node)
                await network.TearDownAsync(pod, ct);
            await infra.StopAsync(pod);
            ReleaseKernelObjects(pod);
            if (pod.InfraContainerId.Length > 0)
                cgroups.Remove(pod.InfraCgroupPath.Length > 0 ? pod.InfraCgroupPath : cgroups.ContainerCgroupPath(pod.CgroupPath, "infra"));
            // Only a pod cgroup CriSharp made goes: the kubelet's parent may already hold a newer sandbox of the pod.
            if (pod.OwnsPodCgroup) cgroups.Remove(pod.CgroupPath);
            if (Directory.Exists(pod.Dir)) Directory.Delete(pod.Dir, recursive: true);
            sandboxes.Remove(pod.Id);
            _names.Release(Naming.SandboxName(pod.Spec.Name, pod.Spec.Namespace, pod.Spec.Uid, pod.Spec.Attempt), pod.Id);
        }
        _locks.Forget(pod.Id);
        log.Information("pod sandbox {PodId} removed", pod.Id);
    }

    void ReleaseKernelObjects(PodSandbox pod)
    {
        if (pod.ShmPath.Length > 0) Mounts.Unmount(pod.ShmPath, detach: true);
        pinner.Release(Path.Combine(pod.Dir, "ns"));
    }

    /// <summary>After recovery: pod removals the daemon was killed in the middle of are finished (a failure stays for kubelet's retry).</summary>
    public async Task FinishInterruptedRemovesAsync()
    {
        foreach (var pod in sandboxes.All().Where(p => p.Removing))
        {
            try
            {
                await RemoveAsync(pod.Id, CancellationToken.None);
                log.Information("finished the interrupted removal of pod sandbox {PodId}", pod.Id);
            }
            catch (Exception e)
            {
                log.Error("the interrupted removal of pod sandbox {PodId} could not be finished; it stays listed for a retry: {Error}", pod.Id, e.Message);
            }
        }
    }
}
