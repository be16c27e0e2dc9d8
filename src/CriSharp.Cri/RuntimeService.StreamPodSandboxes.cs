using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    /// <summary>Items per stream message, so a node with thousands of pods never hits the message size cap.</summary>
    const int StreamBatch = 100;

    public override async Task StreamPodSandboxes(StreamPodSandboxesRequest request, IServerStreamWriter<StreamPodSandboxesResponse> responseStream, ServerCallContext context)
    {
        foreach (var batch in SelectSandboxes(request.Filter).Chunk(StreamBatch))
        {
            var response = new StreamPodSandboxesResponse();
            response.PodSandboxes.AddRange(batch.Select(ToProto));
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }
}
