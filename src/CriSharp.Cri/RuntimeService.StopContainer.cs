using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        if (request.Timeout < 0)
            throw new CriSharpException(ErrorKind.InvalidArgument, "timeout must not be negative");
        // Stop is idempotent, also for a container that is already gone.
        if (containers.Find(id) != null)
            await containers.StopAsync(id, request.Timeout, context.CancellationToken);
        return new StopContainerResponse();
    }
}
