using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PodSandboxId, "pod_sandbox_id");
        await pods.StopAsync(id, context.CancellationToken);
        return new StopPodSandboxResponse();
    }
}
