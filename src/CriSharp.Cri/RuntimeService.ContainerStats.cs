using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<ContainerStatsResponse> ContainerStats(ContainerStatsRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        var sample = await stats.ContainerStatsAsync(id, context.CancellationToken);
        return new ContainerStatsResponse { Stats = StatsMapping.Container(sample, containers.ContainersLayerDir) };
    }
}
