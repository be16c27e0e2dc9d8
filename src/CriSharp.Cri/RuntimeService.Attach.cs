using CriSharp.Api.V1;
using CriSharp.Streaming;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<AttachResponse> Attach(AttachRequest request, ServerCallContext context)
    {
        var id = RequireRunningContainer(request.ContainerId);
        RequireStreams(request.Stdin, request.Stdout, request.Stderr, request.Tty);
        var url = IssueStreamingUrl(new AttachSessionRequest(id, request.Tty, request.Stdin, request.Stdout, request.Stderr));
        return Task.FromResult(new AttachResponse { Url = url });
    }
}
