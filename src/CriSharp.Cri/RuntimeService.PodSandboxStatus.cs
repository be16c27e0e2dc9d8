using System.Text.Json.Nodes;
using CriSharp.Runtime.Pods;
using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context)
    {
        var id = RequireId(request.PodSandboxId, "pod_sandbox_id");
        var pod = sandboxes.Find(id) ?? throw new RpcException(new Status(StatusCode.NotFound, $"pod sandbox {id} not found"));
        var status = new global::Runtime.V1.PodSandboxStatus
        {
            Id = pod.Id,
            Metadata = RuntimeMapping.Metadata(pod.Spec),
            State = RuntimeMapping.State(pod.State),
            CreatedAt = pod.CreatedAt,
            Labels = { pod.Spec.Labels },
            Annotations = { pod.Spec.Annotations },
            RuntimeHandler = pod.RuntimeHandler,
            Linux = new LinuxPodSandboxStatus { Namespaces = new Namespace { Options = RuntimeMapping.FromNamespaces(pod.Spec.Security.Namespaces) } },
            Network = new PodSandboxNetworkStatus { Ip = pod.Ips.FirstOrDefault() ?? "" },
        };
        status.Network.AdditionalIps.AddRange(pod.Ips.Skip(1).Select(ip => new PodIP { Ip = ip }));
        var response = new PodSandboxStatusResponse { Status = status, Timestamp = CriSharp.Runtime.Naming.NowNanos() };
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
