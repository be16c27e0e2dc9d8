using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class ImageService
{
    public override Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context)
    {
        var record = Find(RequireImage(request.Image, "image.image"));
        // A container's own image may go (its layers stay until the container does, as containerd). An image
        // volume's may not (as CRI-O, whose storage refuses images in use): it would vanish from ListImages while
        // mounted, and kubelet's image GC skips images its pods' volumes use, so only a person asks for it.
        if (record != null && images.VolumeUserOf(record.Id) is { } user)
            throw new CriSharpException(ErrorKind.FailedPrecondition,
                $"image.image: {request.Image.Image} is mounted as an image volume by container {user}; remove the container first");
        // Idempotent: removing an image that is not there is success, as kubelet retries expect.
        if (record != null && images.Remove(record.Id))
            images.CollectGarbage();
        return Task.FromResult(new RemoveImageResponse());
    }
}
