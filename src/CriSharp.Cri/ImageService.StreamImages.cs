using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class ImageService
{
    /// <summary>Batches of images, so a node with thousands of images never hits the message size cap.</summary>
    const int StreamBatch = 100;

    public override async Task StreamImages(StreamImagesRequest request, IServerStreamWriter<StreamImagesResponse> responseStream, ServerCallContext context)
    {
        foreach (var batch in Select(request.Filter).Chunk(StreamBatch))
        {
            var response = new StreamImagesResponse();
            response.Images.AddRange(batch.Select(ToProto));
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }
}
