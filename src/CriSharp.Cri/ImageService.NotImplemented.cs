using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

// RPCs whose issue has not landed: each answers UNIMPLEMENTED naming itself.
public sealed partial class ImageService
{
    public override Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListImages));
    public override Task StreamImages(StreamImagesRequest request, IServerStreamWriter<StreamImagesResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(StreamImages));
    public override Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context) => throw Unimplemented(nameof(ImageStatus));
    public override Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context) => throw Unimplemented(nameof(PullImage));
    public override Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context) => throw Unimplemented(nameof(RemoveImage));
    public override Task<ImageFsInfoResponse> ImageFsInfo(ImageFsInfoRequest request, ServerCallContext context) => throw Unimplemented(nameof(ImageFsInfo));
}
