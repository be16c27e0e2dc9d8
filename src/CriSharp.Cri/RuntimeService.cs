using CriSharp.Configuration;
using CriSharp.Model;
using CriSharp.Network;
using CriSharp.Runtime;
using CriSharp.Runtime.Containers;
using CriSharp.Runtime.Events;
using CriSharp.Runtime.Exec;
using CriSharp.Runtime.Pods;
using CriSharp.State;
using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>
/// The CRI runtime.v1.RuntimeService. One partial file per RPC: each validates, calls one engine
/// service and maps the result; RPCs CriSharp refuses (CheckpointContainer) live in RuntimeService.NotImplemented.cs.
/// </summary>
public sealed partial class RuntimeService(
    LiveConfig config,
    RuntimeReadinessProbe runtimeProbe,
    CriSharp.Mechanism.Oci.HandlerFeatureProbe handlerFeatures,
    NetworkReadinessProbe networkProbe,
    PodCidrState podCidr,
    PodManager pods,
    ContainerManager containers,
    RecordIndex<PodSandbox> sandboxes,
    ContainerEventHub events,
    PodResourceUpdater podResources,
    Runtime.Stats.StatsService stats,
    CriSharp.Streaming.StreamingServer streaming,
    ExecSyncRunner execSync) : Api.V1.RuntimeService.RuntimeServiceBase
{
    static string RequireId(string id, string field)
    {
        if (string.IsNullOrWhiteSpace(id))
            throw CriSharpException.Required(field);
        return id;
    }
}
