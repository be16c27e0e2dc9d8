using CriSharp.Api.V1;
using Grpc.Core;

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
