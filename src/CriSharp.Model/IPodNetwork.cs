namespace CriSharp.Model;

/// <summary>The network hook: attaches a pod's pinned netns to the pod network and detaches it.</summary>
public interface IPodNetwork
{
    /// <summary>Sets up networking in the pod's netns; returns its IPs (primary first).</summary>
    Task<IReadOnlyList<string>> SetUpAsync(PodSandbox pod, CancellationToken ct);

    /// <summary>Releases what SetUp made; must succeed even when the netns is already gone.</summary>
    Task TearDownAsync(PodSandbox pod, CancellationToken ct);
}

/// <summary>A pod's containers, as its stop and removal need them (the container manager).</summary>
public interface IPodContainers
{
    /// <summary>Waits for the pod's creates in flight, then stops (timeout 0) or removes every container of the pod.</summary>
    Task StopOrRemoveInPodAsync(string sandboxId, bool remove, CancellationToken ct);
}
