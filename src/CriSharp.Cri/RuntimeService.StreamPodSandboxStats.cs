using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task StreamPodSandboxStats(StreamPodSandboxStatsRequest request, IServerStreamWriter<StreamPodSandboxStatsResponse> responseStream, ServerCallContext context)
    {
        foreach (var batch in (await SelectPodStatsAsync(request.Filter, context.CancellationToken)).Chunk(StreamBatch))
        {
            var response = new StreamPodSandboxStatsResponse();
            response.PodSandboxStats.AddRange(batch);
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }
}
