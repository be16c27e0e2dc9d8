using CriSharp.Api.V1;
using CriSharp.Model;
using CriSharp.Streaming;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<PortForwardResponse> PortForward(PortForwardRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PodSandboxId, "pod_sandbox_id");
        var pod = sandboxes.Find(id) ?? throw new CriSharpException(ErrorKind.NotFound, $"pod sandbox {id} not found");
        if (pod.State != SandboxState.Ready)
            throw new CriSharpException(ErrorKind.FailedPrecondition, $"pod sandbox {id} is not ready");
        foreach (var port in request.Port)
            if (port is < 1 or > 65535)
                throw new CriSharpException(ErrorKind.InvalidArgument, $"port {port} is not between 1 and 65535");
        var url = IssueStreamingUrl(new PortForwardSessionRequest(pod.Id, [.. request.Port]));
        return Task.FromResult(new PortForwardResponse { Url = url });
    }
}
