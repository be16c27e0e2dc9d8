using CriSharp.Configuration;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;
using CriSharp.State;
using Serilog;

namespace CriSharp.Runtime.Pods;

/// <summary>
/// Pod sandboxes: pinned network/IPC/UTS namespaces, pod files, /dev/shm, the pod cgroup and the
/// network hook. Every step is undone if a later one fails, so a failed RunPodSandbox leaves nothing.
/// </summary>
public sealed partial class PodManager(
    LiveConfig config,
    RecordIndex<PodSandbox> sandboxes,
    NamespacePinner pinner,
    ICgroupManager cgroups,
    IPodNetwork network,
    InfraProcess infra,
    HandlerFeatureProbe handlerFeatures,
    IPodContainers containers,
    ILogger log)
{
    const long ShmBytes = 64L * 1024 * 1024;
    readonly NameRegistry _names = new();
    readonly KeyedLock _locks = new();

    public string PodsDir => StateLayout.Pods(config.Current.StateDir);

    public void ClaimName(PodSandbox pod) =>
        _names.Claim(Naming.SandboxName(pod.Spec.Name, pod.Spec.Namespace, pod.Spec.Uid, pod.Spec.Attempt), pod.Id);

    const string CgroupNoteFile = "cgroup-path";
}
