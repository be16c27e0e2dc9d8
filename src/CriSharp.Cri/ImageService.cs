using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>The CRI runtime.v1.ImageService, one partial file per RPC.</summary>
public sealed partial class ImageService : global::Runtime.V1.ImageService.ImageServiceBase
{
    static RpcException Unimplemented(string rpc) =>
        new(new Status(StatusCode.Unimplemented, $"{rpc} is not implemented by crisharp yet"));
}
