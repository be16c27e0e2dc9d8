using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task StreamContainers(StreamContainersRequest request, IServerStreamWriter<StreamContainersResponse> responseStream, ServerCallContext context)
    {
        foreach (var batch in SelectContainers(request.Filter).Chunk(StreamBatch))
        {
            var response = new StreamContainersResponse();
            response.Containers.AddRange(batch.Select(ToProto));
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }
}
