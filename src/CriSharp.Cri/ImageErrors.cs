using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.References;
using CriSharp.Images.Registry;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>Maps image-engine failures to the gRPC status a kubelet or operator can act on.</summary>
static class ImageErrors
{
    public static RpcException? ToRpc(Exception e, string image) => e switch
    {
        InvalidImageReferenceException => Rpc(StatusCode.InvalidArgument, $"image.image: {e.Message}"),
        RegistryException r => Rpc(r.Kind switch
        {
            RegistryErrorKind.NotFound => StatusCode.NotFound,
            RegistryErrorKind.Unauthenticated => StatusCode.Unauthenticated,
            RegistryErrorKind.Stalled => StatusCode.DeadlineExceeded,
            RegistryErrorKind.Network => StatusCode.Unavailable,
            _ => StatusCode.FailedPrecondition,
        }, $"pulling {image}: {r.Message}"),
        HostileLayerException => Rpc(StatusCode.FailedPrecondition, $"pulling {image}: refused hostile layer: {e.Message}"),
        BlobVerificationException => Rpc(StatusCode.DataLoss, $"pulling {image}: {e.Message}"),
        FormatException => Rpc(StatusCode.FailedPrecondition, $"pulling {image}: {e.Message}"),
        _ => null,
    };

    static RpcException Rpc(StatusCode code, string message) => new(new Status(code, message));
}
