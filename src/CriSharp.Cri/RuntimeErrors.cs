using CriSharp.Linux;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.Network;
using CriSharp.Runtime.Exec;
using CriSharp.Runtime.Spec;
using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>Maps runtime-engine failures to the gRPC status a kubelet or operator can act on.</summary>
static class RuntimeErrors
{
    public static RpcException? ToRpc(Exception e) => e switch
    {
        RpcException r => r,
        InvalidRequestException or SpecException => Rpc(StatusCode.InvalidArgument, e.Message),
        ObjectNotFoundException => Rpc(StatusCode.NotFound, e.Message),
        WrongStateException => Rpc(StatusCode.FailedPrecondition, e.Message),
        HandlerUnavailableException => Rpc(StatusCode.FailedPrecondition, e.Message),
        NameInUseException => Rpc(StatusCode.AlreadyExists, e.Message),
        ExecTimeoutException => Rpc(StatusCode.DeadlineExceeded, e.Message),
        CniException { NotReady: true } => Rpc(StatusCode.FailedPrecondition, e.Message),
        CniException => Rpc(StatusCode.Internal, e.Message),
        RuntimeCreateException or ExternalProgramException or LinuxException or CgroupException => Rpc(StatusCode.Internal, e.Message),
        _ => null,
    };

    static RpcException Rpc(StatusCode code, string message) => new(new Status(code, message));
}
