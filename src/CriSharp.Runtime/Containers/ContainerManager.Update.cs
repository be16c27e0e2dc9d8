using System.Text.Json;
using CriSharp.Mechanism;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;
using CriSharp.Runtime.Spec;
using CriSharp.State;

namespace CriSharp.Runtime.Containers;

/// <summary>UpdateContainerResources and ReopenContainerLog.</summary>
public sealed partial class ContainerManager
{
    /// <summary>Applies new resources to the running container's cgroup and records them for ContainerStatus.</summary>
    public async Task UpdateResourcesAsync(string id, ResourceSpec resources, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        using var _ = await _locks.AcquireAsync(c.Id, ct);
        c = _containers.Get(c.Id)!;
        if (c.State is not (ContainerState.Created or ContainerState.Running))
            throw new WrongStateException($"container {c.Id} is {c.State.ToString().ToLowerInvariant()}; only created or running containers can be updated");
        var oci = OciSpecGenerator.Resources(ClampOomScoreAdj(resources), HostFeatures.Current);
        oci.Devices = null; // device rules are fixed at create time
        var path = Path.Combine(c.BundleDir, "resources-update.json");
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(oci, OciJsonContext.Default.OciResources));
        await RuntimeFor(c.RuntimeHandler).UpdateAsync(c.Id, path);
        _containers.Update(c.Id, r => r with { Spec = r.Spec with { Resources = resources } });
    }

    public async Task ReopenLogAsync(string id, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        if (c.State != ContainerState.Running)
            throw new WrongStateException($"container {c.Id} is not running, so its log cannot be reopened");
        await _monitor.ReopenLogAsync(c.BundleDir, c.LogPath, ct);
    }
}
