using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<UpdatePodSandboxResourcesResponse> UpdatePodSandboxResources(UpdatePodSandboxResourcesRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PodSandboxId, "pod_sandbox_id");
        var overhead = request.Overhead == null ? null : RuntimeMapping.ToResources(request.Overhead);
        var resources = request.Resources == null ? null : RuntimeMapping.ToResources(request.Resources);
        podResources.Update(id, overhead, resources);
        return Task.FromResult(new UpdatePodSandboxResourcesResponse());
    }
}
