using CriSharp.Api.V1;
using Grpc.Core;

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
