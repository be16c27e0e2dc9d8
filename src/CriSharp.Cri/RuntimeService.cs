using CriSharp.Configuration;
using CriSharp.Network;
using CriSharp.Runtime;
using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>
/// The CRI runtime.v1.RuntimeService. One partial file per RPC: each validates, calls one engine
/// service and maps the result; RPCs not built yet live in RuntimeService.NotImplemented.cs.
/// </summary>
public sealed partial class RuntimeService(
    LiveConfig config,
    RuntimeReadinessProbe runtimeProbe,
    NetworkReadinessProbe networkProbe,
    PodCidrState podCidr) : global::Runtime.V1.RuntimeService.RuntimeServiceBase
{
    static RpcException Unimplemented(string rpc) =>
        new(new Status(StatusCode.Unimplemented, $"{rpc} is not implemented by crisharp yet"));
}
