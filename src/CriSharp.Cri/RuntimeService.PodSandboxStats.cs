using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<PodSandboxStatsResponse> PodSandboxStats(PodSandboxStatsRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PodSandboxId, "pod_sandbox_id");
        var sample = await stats.PodStatsAsync(id, context.CancellationToken);
        return new PodSandboxStatsResponse { Stats = StatsMapping.Pod(sample, containers.ContainersLayerDir) };
    }
}
