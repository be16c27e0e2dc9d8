using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context)
    {
        if (request.Config?.Metadata == null)
            throw CriSharpException.Required("config.metadata");
        var spec = RuntimeMapping.ToSandboxSpec(request.Config, request.RuntimeHandler);
        return new RunPodSandboxResponse { PodSandboxId = (await pods.RunAsync(spec, context.CancellationToken)).Id };
    }
}
