using CriSharp.Api.V1;
using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.References;
using CriSharp.Images.Registry;
using CriSharp.Model;
using Grpc.Core;

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
        catch (InvalidImageReferenceException e)
        {
            throw CriSharpException.InvalidArgument("image.image", e.Message);
        }
        catch (HostileLayerException e)
        {
            throw e.WithContext($"pulling {image}: refused hostile layer");
        }
        catch (CriSharpException e)
        {
            throw e.WithContext($"pulling {image}");
        }
        catch (FormatException e)
        {
            // A manifest or config that does not parse, an image for another OS.
            throw new CriSharpException(ErrorKind.FailedPrecondition, $"pulling {image}: {e.Message}", e);
        }
    }
}
