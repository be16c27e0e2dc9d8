using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<ListPodSandboxMetricsResponse> ListPodSandboxMetrics(ListPodSandboxMetricsRequest request, ServerCallContext context)
    {
        var sets = await stats.PodMetricsAsync(context.CancellationToken);
        var response = new ListPodSandboxMetricsResponse();
        response.PodMetrics.AddRange(sets.Select(StatsMapping.PodMetrics));
        return response;
    }
}
