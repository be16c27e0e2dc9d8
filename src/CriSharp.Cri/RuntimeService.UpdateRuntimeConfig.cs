using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<UpdateRuntimeConfigResponse> UpdateRuntimeConfig(UpdateRuntimeConfigRequest request, ServerCallContext context)
    {
        var cidr = request.RuntimeConfig?.NetworkConfig?.PodCidr ?? "";
        try
        {
            podCidr.Update(cidr);
        }
        catch (FormatException e)
        {
            throw CriSharpException.InvalidArgument("runtime_config.network_config.pod_cidr", e.Message);
        }
        return Task.FromResult(new UpdateRuntimeConfigResponse());
    }
}
