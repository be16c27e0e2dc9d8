using System.Text.Json.Nodes;
using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        var c = containers.Find(id) ?? throw new CriSharpException(ErrorKind.NotFound, $"container {id} not found");
        var status = StatusMapping.Container(c);
        // A container whose handler went away keeps its last known state; say so rather than let it look current.
        if (c.State is Model.ContainerState.Created or Model.ContainerState.Running
            && containers.HandlerUnavailable(c.RuntimeHandler) is { } why)
            status.Message = why + "; the state shown is the last known";
        var response = new ContainerStatusResponse { Status = status };
        if (request.Verbose)
        {
            var specPath = Path.Combine(c.BundleDir, "config.json");
            response.Info["info"] = new JsonObject
            {
                ["pid"] = c.Pid,
                ["conmonPid"] = c.ConmonPid,
                ["sandboxId"] = c.SandboxId,
                ["runtimeHandler"] = c.RuntimeHandler,
                ["bundle"] = c.BundleDir,
                ["runtimeSpec"] = File.Exists(specPath) ? JsonNode.Parse(File.ReadAllText(specPath)) : null,
            }.ToJsonString();
        }
        return Task.FromResult(response);
    }
}
