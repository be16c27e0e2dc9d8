using System.Text.Json;
using CriSharp.Configuration;
using CriSharp.Runtime;
using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
    {
        var response = new StatusResponse
        {
            Status = new RuntimeStatus
            {
                Conditions =
                {
                    Condition("RuntimeReady", runtimeProbe.Check()),
                    Condition("NetworkReady", networkProbe.Check()),
                },
            },
        };
        if (request.Verbose)
        {
            response.Info["config"] = JsonSerializer.Serialize(config.Current, ConfigJsonContext.Default.DaemonConfig);
            response.Info["podCIDRs"] = JsonSerializer.Serialize(podCidr.Cidrs.ToArray(), ConfigJsonContext.Default.StringArray);
        }
        return Task.FromResult(response);
    }

    static RuntimeCondition Condition(string type, Readiness r) =>
        new() { Type = type, Status = r.Ready, Reason = r.Reason, Message = r.Message };
}
