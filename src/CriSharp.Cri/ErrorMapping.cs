using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>
/// The one place a failure becomes a gRPC status: the engine's <see cref="ErrorKind"/> decides the code and its
/// message is the detail; a cancelled call is CANCELLED; anything else is a bug of ours and INTERNAL, naming the RPC.
/// </summary>
static class ErrorMapping
{
    public static RpcException ToRpc(Exception e, ServerCallContext context) => e switch
    {
        RpcException r => r,
        CriSharpException c => new RpcException(new Status(Code(c.Kind), c.Message)),
        OperationCanceledException when context.CancellationToken.IsCancellationRequested =>
            new RpcException(new Status(StatusCode.Cancelled, "call cancelled by the client")),
        _ => new RpcException(new Status(StatusCode.Internal, $"{context.Method}: {e.Message}")),
    };

    public static StatusCode Code(ErrorKind kind) => kind switch
    {
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        ErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        ErrorKind.DeadlineExceeded => StatusCode.DeadlineExceeded,
        ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        ErrorKind.Unauthenticated => StatusCode.Unauthenticated,
        ErrorKind.DataLoss => StatusCode.DataLoss,
        ErrorKind.Unimplemented => StatusCode.Unimplemented,
        _ => StatusCode.Internal,
    };
}
