using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class ImageService
{
    public override Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context)
    {
        var record = Find(RequireImage(request.Image, "image.image"));
        // Idempotent: removing an image that is not there is success, as kubelet retries expect.
        if (record != null && images.Remove(record.Id))
            images.CollectGarbage();
        return Task.FromResult(new RemoveImageResponse());
    }
}
