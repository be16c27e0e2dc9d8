using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        await containers.StartAsync(id, context.CancellationToken);
        return new StartContainerResponse();
    }
}
