using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        await containers.ReopenLogAsync(id, context.CancellationToken);
        return new ReopenContainerLogResponse();
    }
}
