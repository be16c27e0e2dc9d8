using System.Text.Json.Nodes;
using CriSharp.Runtime.Containers;
using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context)
    {
        var id = RequireId(request.ContainerId, "container_id");
        var c = containers.Find(id) ?? throw new RpcException(new Status(StatusCode.NotFound, $"container {id} not found"));
        var status = new global::Runtime.V1.ContainerStatus
        {
            Id = c.Id,
            Metadata = new ContainerMetadata { Name = c.Spec.Name, Attempt = c.Spec.Attempt },
            State = RuntimeMapping.State(c.State),
            CreatedAt = c.CreatedAt,
            StartedAt = c.StartedAt,
            FinishedAt = c.FinishedAt,
            ExitCode = c.ExitCode,
            Image = new ImageSpec { Image = c.Spec.Image },
            ImageRef = c.ImageId,
            ImageId = c.ImageId,
            Reason = c.Reason,
            Message = c.Message,
            Labels = { c.Spec.Labels },
            Annotations = { c.Spec.Annotations },
            LogPath = c.LogPath,
            Resources = new ContainerResources { Linux = RuntimeMapping.FromResources(c.Spec.Resources) },
            StopSignal = RuntimeMapping.ToSignalEnum(c.StopSignal),
        };
        status.Mounts.AddRange(c.Spec.Mounts.Select(m => new Mount
        {
            ContainerPath = m.ContainerPath,
            HostPath = m.HostPath,
            Readonly = m.Readonly,
            Propagation = (MountPropagation)(int)m.Propagation,
            RecursiveReadOnly = m.RecursiveReadOnly,
            SelinuxRelabel = m.SelinuxRelabel,
        }));
        if (c.User is { } user)
        {
            var linuxUser = new LinuxContainerUser { Uid = user.Uid, Gid = user.Gid };
            linuxUser.SupplementalGroups.AddRange(user.AdditionalGids);
            status.User = new ContainerUser { Linux = linuxUser };
        }
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
