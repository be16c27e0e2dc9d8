using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class ImageService
{
    public override Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context)
    {
        var response = new ListImagesResponse();
        response.Images.AddRange(Select(request.Filter).Select(ToProto));
        return Task.FromResult(response);
    }

    /// <summary>All images, or the one the filter's image names (by id, tag or digest).</summary>
    IEnumerable<Images.ImageRecord> Select(ImageFilter? filter)
    {
        var wanted = filter?.Image?.Image;
        if (string.IsNullOrEmpty(wanted)) return images.List().OrderBy(r => r.Id, StringComparer.Ordinal);
        return Find(wanted) is { } one ? [one] : [];
    }
}
