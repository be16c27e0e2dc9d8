namespace CriSharp.Runtime.Pods;

/// <summary>The network hook: attaches a pod's pinned netns to the pod network and detaches it.</summary>
public interface IPodNetwork
{
    /// <summary>Sets up networking in the pod's netns; returns its IPs (primary first).</summary>
    Task<IReadOnlyList<string>> SetUpAsync(PodSandbox pod, CancellationToken ct);

    /// <summary>Releases what SetUp made; must succeed even when the netns is already gone.</summary>
    Task TearDownAsync(PodSandbox pod, CancellationToken ct);
}

/// <summary>Until CNI lands: pods get a netns with only loopback (brought up when it is pinned).</summary>
public sealed class LoopbackOnlyNetwork : IPodNetwork
{
    public Task<IReadOnlyList<string>> SetUpAsync(PodSandbox pod, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);
    public Task TearDownAsync(PodSandbox pod, CancellationToken ct) => Task.CompletedTask;
}
