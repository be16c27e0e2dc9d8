using Google.Protobuf;
using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        if (request.Cmd.Count == 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "cmd is required"));
        if (request.Timeout < 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "timeout must not be negative"));
        return Engine(async () =>
        {
            var r = await execSync.RunAsync(id, request.Cmd, TimeSpan.FromSeconds(request.Timeout), context.CancellationToken);
            // The buffers are ours alone: wrap them instead of copying up to 2 × 16 MiB.
            return new ExecSyncResponse
            {
                Stdout = UnsafeByteOperations.UnsafeWrap(r.Stdout),
                Stderr = UnsafeByteOperations.UnsafeWrap(r.Stderr),
                ExitCode = r.ExitCode,
            };
        });
    }
}
