using Grpc.Core;
using Runtime.V1;

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
