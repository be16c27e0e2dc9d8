using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task StreamPodSandboxMetrics(StreamPodSandboxMetricsRequest request, IServerStreamWriter<StreamPodSandboxMetricsResponse> responseStream, ServerCallContext context)
    {
        var sets = await stats.PodMetricsAsync(context.CancellationToken);
        foreach (var batch in sets.Chunk(StreamBatch))
        {
            var response = new StreamPodSandboxMetricsResponse();
            response.PodSandboxMetrics.AddRange(batch.Select(StatsMapping.PodMetrics));
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }
}
