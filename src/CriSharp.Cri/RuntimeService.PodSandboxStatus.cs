using System.Text.Json.Nodes;
using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PodSandboxId, "pod_sandbox_id");
        var pod = sandboxes.Find(id) ?? throw new CriSharpException(ErrorKind.NotFound, $"pod sandbox {id} not found");
        var status = StatusMapping.PodSandbox(pod);
        var response = new PodSandboxStatusResponse { Status = status, Timestamp = CriSharp.Model.Naming.NowNanos() };
        // kubelet's evented PLEG takes the pod's container statuses from here when timestamp is set.
        response.ContainersStatuses.AddRange(containers.List().Where(c => c.SandboxId == pod.Id).OrderBy(c => c.CreatedAt).Select(StatusMapping.Container));
        if (request.Verbose)
        {
            response.Info["info"] = new JsonObject
            {
                ["dir"] = pod.Dir,
                ["netns"] = pod.NetNsPath,
                ["ipcns"] = pod.IpcNsPath,
                ["utsns"] = pod.UtsNsPath,
                ["shm"] = pod.ShmPath,
                ["cgroupPath"] = pod.CgroupPath,
                ["infraContainerId"] = pod.InfraContainerId,
            }.ToJsonString();
        }
        return Task.FromResult(response);
    }
}
