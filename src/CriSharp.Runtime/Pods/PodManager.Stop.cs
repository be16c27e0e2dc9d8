using CriSharp.Model;

namespace CriSharp.Runtime.Pods;

/// <summary>StopPodSandbox.</summary>
public sealed partial class PodManager
{
    /// <summary>Stops the pod's containers, tears down its network and releases its namespaces. Idempotent.</summary>
    public async Task StopAsync(string id, CancellationToken ct)
    {
        var pod = sandboxes.Find(id);
        if (pod == null) return; // kubelet retries stop for pods we no longer know
        using var _ = await _locks.AcquireAsync(pod.Id, ct);
        pod = sandboxes.Get(pod.Id);
        if (pod == null) return;
        // NotReady before the containers go, so no create can start in the pod meanwhile.
        if (pod.State != SandboxState.NotReady)
            pod = sandboxes.Update(pod.Id, p => p with { State = SandboxState.NotReady }) ?? pod;
        await containers.StopOrRemoveInPodAsync(pod.Id, false, ct);
        var hostNet = pod.Spec.Security.Namespaces.Network == NamespaceMode.Node;
        if (!hostNet)
        {
            try
            {
                await network.TearDownAsync(pod, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The pod still stops; RemovePodSandbox tries the teardown again.
                log.Warning("network teardown of pod {PodId} failed, will retry on remove: {Error}", pod.Id, e.Message);
            }
        }
        await infra.StopAsync(pod);
        ReleaseKernelObjects(pod);
    }
}
