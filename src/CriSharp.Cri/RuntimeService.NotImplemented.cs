using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

// RPCs whose issue has not landed: each answers UNIMPLEMENTED naming itself.
public sealed partial class RuntimeService
{
    // Not planned: checkpoint/restore needs CRIU, which CriSharp does not drive.
    public override Task<CheckpointContainerResponse> CheckpointContainer(CheckpointContainerRequest request, ServerCallContext context) =>
        throw new CriSharpException(ErrorKind.Unimplemented, "CheckpointContainer is not supported by crisharp (no CRIU support)");
}
