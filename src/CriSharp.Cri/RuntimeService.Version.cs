using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) =>
        Task.FromResult(new VersionResponse
        {
            Version = VersionInfo.KubeletApiVersion,
            RuntimeName = VersionInfo.RuntimeName,
            RuntimeVersion = VersionInfo.RuntimeVersion,
            RuntimeApiVersion = VersionInfo.CriApiVersion,
        });
}
