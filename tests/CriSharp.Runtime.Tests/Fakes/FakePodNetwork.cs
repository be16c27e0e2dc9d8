using System.Collections.Concurrent;
using CriSharp.Model;
using CriSharp.Runtime.Pods;

namespace CriSharp.Runtime.Tests.Fakes;

/// <summary>A pod network that records set-ups and teardowns; a teardown can be made to fail.</summary>
sealed class FakePodNetwork : IPodNetwork
{
    public ConcurrentQueue<string> SetUps { get; } = new();
    public ConcurrentQueue<string> TearDowns { get; } = new();
    public bool FailTearDown { get; set; }

    public Task<IReadOnlyList<string>> SetUpAsync(PodSandbox pod, CancellationToken ct)
    {
        SetUps.Enqueue(pod.Id);
        return Task.FromResult<IReadOnlyList<string>>(["10.88.0.2"]);
    }

    public Task TearDownAsync(PodSandbox pod, CancellationToken ct)
    {
        TearDowns.Enqueue(pod.Id);
        return FailTearDown ? Task.FromException(new IOException("plugin failed")) : Task.CompletedTask;
    }
}

/// <summary>The pod's containers as PodManager sees them: which pods were asked to stop or remove theirs.</summary>
sealed class FakePodContainers : IPodContainers
{
    public ConcurrentQueue<(string SandboxId, bool Remove)> Calls { get; } = new();

    public Task StopOrRemoveInPodAsync(string sandboxId, bool remove, CancellationToken ct)
    {
        Calls.Enqueue((sandboxId, remove));
        return Task.CompletedTask;
    }
}
