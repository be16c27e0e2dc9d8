using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<UpdateContainerResourcesResponse> UpdateContainerResources(UpdateContainerResourcesRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        if (request.Linux == null)
            throw new CriSharpException(ErrorKind.InvalidArgument, "linux resources are required");
        var resources = RuntimeMapping.ToResources(request.Linux);
        await containers.UpdateResourcesAsync(id, resources, context.CancellationToken);
        return new UpdateContainerResourcesResponse();
    }
}
