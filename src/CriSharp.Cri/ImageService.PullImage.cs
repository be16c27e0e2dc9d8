using CriSharp.Images.Registry;
using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class ImageService
{
    public override async Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context)
    {
        var image = RequireImage(request.Image, "image.image");
        var a = request.Auth;
        var credentials = a == null ? null : RegistryCredentials.FromAuthConfig(a.Username, a.Password, a.Auth, a.IdentityToken, a.RegistryToken);
        try
        {
            var record = await puller.PullAsync(image, credentials, request.Image.Annotations, context.CancellationToken);
            return new PullImageResponse { ImageRef = record.Id };
        }
        catch (Exception e) when (ImageErrors.ToRpc(e, image) is { } rpc)
        {
            throw rpc;
        }
    }
}
