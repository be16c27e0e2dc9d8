using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task StreamContainerStats(StreamContainerStatsRequest request, IServerStreamWriter<StreamContainerStatsResponse> responseStream, ServerCallContext context)
    {
        foreach (var batch in (await SelectContainerStatsAsync(request.Filter, context.CancellationToken)).Chunk(StreamBatch))
        {
            var response = new StreamContainerStatsResponse();
            response.ContainerStats.AddRange(batch);
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }
}
