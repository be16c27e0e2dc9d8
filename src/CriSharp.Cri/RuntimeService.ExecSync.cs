using CriSharp.Api.V1;
using CriSharp.Model;
using Google.Protobuf;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        if (request.Cmd.Count == 0)
            throw CriSharpException.Required("cmd");
        if (request.Timeout < 0)
            throw new CriSharpException(ErrorKind.InvalidArgument, "timeout must not be negative");
        var r = await execSync.RunAsync(id, request.Cmd, TimeSpan.FromSeconds(request.Timeout), context.CancellationToken);
        // The buffers are ours alone: wrap them instead of copying up to 2 × 16 MiB.
        return new ExecSyncResponse
        {
            Stdout = UnsafeByteOperations.UnsafeWrap(r.Stdout),
            Stderr = UnsafeByteOperations.UnsafeWrap(r.Stderr),
            ExitCode = r.ExitCode,
        };
    }
}
