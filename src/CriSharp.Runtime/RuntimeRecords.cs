using CriSharp.Model;
using CriSharp.State;

namespace CriSharp.Runtime;

/// <summary>Opens the durable sandbox and container records under the root dir.</summary>
public static class RuntimeRecords
{
    public static RecordIndex<PodSandbox> Sandboxes(string root) =>
        new(StateLayout.Records(root, "sandboxes"), RuntimeJsonContext.Default.PodSandbox, p => p.Id, Quarantine.Under(root));

    public static RecordIndex<ContainerRecord> Containers(string root) =>
        new(StateLayout.Records(root, "containers"), RuntimeJsonContext.Default.ContainerRecord, c => c.Id, Quarantine.Under(root));
}
