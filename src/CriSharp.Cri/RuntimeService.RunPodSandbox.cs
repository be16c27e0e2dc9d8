using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context)
    {
        if (request.Config?.Metadata == null)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "config.metadata is required"));
        var spec = RuntimeMapping.ToSandboxSpec(request.Config, request.RuntimeHandler);
        return Engine(async () => new RunPodSandboxResponse { PodSandboxId = (await pods.RunAsync(spec, context.CancellationToken)).Id });
    }
}
