using CriSharp.Mechanism.Oci;
using CriSharp.Model;
using CriSharp.Runtime.Containers;

namespace CriSharp.Runtime.Exec;

/// <summary>Finds the running container an exec or attach is for, and the OCI runtime that manages it.</summary>
public sealed class ExecTargets(ContainerManager containers)
{
    /// <summary>By full id or unique prefix; unknown → <see cref="ObjectNotFoundException"/>, not running → <see cref="WrongStateException"/>.</summary>
    public (ContainerRecord Container, IOciRuntime Runtime) Resolve(string containerId)
    {
        var c = containers.Find(containerId) ?? throw new ObjectNotFoundException($"container {containerId} not found");
        if (c.State != ContainerState.Running)
            throw new WrongStateException($"container {c.Id} is {c.State.ToString().ToLowerInvariant()}, not running");
        return (c, containers.RuntimeFor(c.RuntimeHandler));
    }

    /// <summary>`runtime --root R exec --process F [extra] id`.</summary>
    public static string[] ExecArgs(IOciRuntime runtime, string containerId, string processFile, params string[] extra)
    {
        runtime.EnsureAvailable();
        return [.. runtime.GlobalArgs, "exec", "--process", processFile, .. extra, containerId];
    }
}
