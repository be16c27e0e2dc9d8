using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PodSandboxId, "pod_sandbox_id");
        await pods.RemoveAsync(id, context.CancellationToken);
        return new RemovePodSandboxResponse();
    }
}
