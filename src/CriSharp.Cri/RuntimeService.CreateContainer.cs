using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context)
    {
        var sandboxId = RequireId(request.PodSandboxId, "pod_sandbox_id");
        if (request.Config?.Metadata == null)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "config.metadata is required"));
        if (string.IsNullOrWhiteSpace(request.Config.Image?.Image))
            throw new RpcException(new Status(StatusCode.InvalidArgument, "config.image.image is required"));
        var spec = RuntimeMapping.ToContainerSpec(request.Config);
        return Engine(async () => new CreateContainerResponse { ContainerId = (await containers.CreateAsync(sandboxId, spec, context.CancellationToken)).Id });
    }
}
