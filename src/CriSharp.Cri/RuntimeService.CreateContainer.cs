using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context)
    {
        var sandboxId = RequireId(request.PodSandboxId, "pod_sandbox_id");
        if (request.Config?.Metadata == null)
            throw CriSharpException.Required("config.metadata");
        if (string.IsNullOrWhiteSpace(request.Config.Image?.Image))
            throw CriSharpException.Required("config.image.image");
        var spec = RuntimeMapping.ToContainerSpec(request.Config);
        await RequireRecursiveReadOnlyAsync(sandboxId, spec);
        return new CreateContainerResponse { ContainerId = (await containers.CreateAsync(sandboxId, spec, context.CancellationToken)).Id };
    }

    /// <summary>A recursive read-only mount on a handler whose probe found none would silently be only read-only.</summary>
    async Task RequireRecursiveReadOnlyAsync(string sandboxId, CriSharp.Model.ContainerSpec spec)
    {
        if (!spec.Mounts.Any(m => m.RecursiveReadOnly) || sandboxes.Find(sandboxId) is not { } pod) return;
        var handler = pod.RuntimeHandler.Length > 0 ? pod.RuntimeHandler : config.Current.DefaultRuntime;
        if (!await handlerFeatures.SupportsRecursiveReadOnlyAsync(handler))
            throw new CriSharpException(ErrorKind.FailedPrecondition,
                $"config.mounts: runtime handler '{handler}' does not support recursive read-only mounts on this host");
    }
}
