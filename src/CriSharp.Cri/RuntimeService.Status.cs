using System.Text.Json;
using System.Text.Json.Nodes;
using CriSharp.Api.V1;
using CriSharp.Configuration;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
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
            // Strict supplemental groups: only the image's primary group and the requested ones (OciSpecGenerator).
            Features = new RuntimeFeatures { SupplementalGroupsPolicy = true },
        };
        // One entry per configured handler, and "" for the default one (the handler a pod gets when it names none).
        var handlers = await handlerFeatures.ResultsAsync().WaitAsync(context.CancellationToken);
        var defaultName = config.Current.DefaultRuntime;
        if (handlers.TryGetValue(defaultName, out var defaultHandler))
            response.RuntimeHandlers.Add(Handler("", defaultHandler));
        foreach (var h in handlers.Values)
            response.RuntimeHandlers.Add(Handler(h.Name, h));
        if (request.Verbose)
        {
            // The config as TOML names it, plus containerd's "stateDir" and "rootDir" keys: critest tests idmapped
            // mounts on the file system of stateDir's parent, where a runtime keeps its container rootfs.
            var info = JsonNode.Parse(JsonSerializer.Serialize(config.Current, ConfigJsonContext.Default.DaemonConfig))!.AsObject();
            info["stateDir"] = config.Current.StateDir;
            info["rootDir"] = config.Current.Root;
            response.Info["config"] = info.ToJsonString();
            response.Info["podCIDRs"] = JsonSerializer.Serialize(podCidr.Cidrs.ToArray(), ConfigJsonContext.Default.StringArray);
        }
        return response;
    }

    static RuntimeHandler Handler(string name, CriSharp.Mechanism.Oci.HandlerFeatures f) => new()
    {
        Name = name,
        Features = new RuntimeHandlerFeatures { RecursiveReadOnlyMounts = f.RecursiveReadOnlyMounts, UserNamespaces = f.UserNamespaces },
    };

    static RuntimeCondition Condition(string type, Readiness r) =>
        new() { Type = type, Status = r.Ready, Reason = r.Reason, Message = r.Message };
}
