using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        await containers.RemoveAsync(id, context.CancellationToken);
        return new RemoveContainerResponse();
    }
}
