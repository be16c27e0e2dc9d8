using System.Runtime.CompilerServices;
using CriSharp.Api.V1;
using CriSharp.Model;
using CriSharp.Runtime.Events;

namespace CriSharp.Cri;

/// <summary>Builds the CRI status messages from engine records: shared by the status RPCs and container events.</summary>
static class StatusMapping
{
    public static PodSandboxStatus PodSandbox(CriSharp.Model.PodSandbox pod)
    {
        var status = new PodSandboxStatus
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
        return status;
    }

    public static ContainerStatus Container(ContainerRecord c)
    {
        var status = new ContainerStatus
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
            UidMappings = { (m.UidMappings ?? []).Select(x => new IDMapping { ContainerId = x.ContainerId, HostId = x.HostId, Length = x.Length }) },
            GidMappings = { (m.GidMappings ?? []).Select(x => new IDMapping { ContainerId = x.ContainerId, HostId = x.HostId, Length = x.Length }) },
            Image = m.IsImage ? new ImageSpec { Image = m.Image } : null,
            ImageSubPath = m.ImageSubPath,
        }));
        if (c.User is { } user)
        {
            var linuxUser = new LinuxContainerUser { Uid = user.Uid, Gid = user.Gid };
            linuxUser.SupplementalGroups.AddRange(user.AdditionalGids);
            status.User = new ContainerUser { Linux = linuxUser };
        }
        return status;
    }

    // Records are immutable, so each version is mapped once however many events and subscribers carry it
    // (an event holds the statuses of all the pod's containers; a burst in a big pod repeats them many times).
    static readonly ConditionalWeakTable<ContainerRecord, ContainerStatus> ContainerCache = new();
    static readonly ConditionalWeakTable<CriSharp.Model.PodSandbox, PodSandboxStatus> SandboxCache = new();
    static readonly ConditionalWeakTable<ContainerEvent, ContainerEventResponse> EventCache = new();

    /// <summary>The wire form of an event, built once and shared by every subscriber (protobuf messages are only read when sent).</summary>
    public static ContainerEventResponse Event(ContainerEvent e) => EventCache.GetValue(e, BuildEvent);

    static ContainerEventResponse BuildEvent(ContainerEvent e)
    {
        var response = new ContainerEventResponse
        {
            ContainerId = e.ContainerId,
            ContainerEventType = e.Kind switch
            {
                ContainerEventKind.Created => ContainerEventType.ContainerCreatedEvent,
                ContainerEventKind.Started => ContainerEventType.ContainerStartedEvent,
                ContainerEventKind.Stopped => ContainerEventType.ContainerStoppedEvent,
                _ => ContainerEventType.ContainerDeletedEvent,
            },
            CreatedAt = e.CreatedAt,
            PodSandboxStatus = e.Sandbox is { } pod ? SandboxCache.GetValue(pod, PodSandbox) : null,
        };
        response.ContainersStatuses.AddRange(e.Containers.Select(c => ContainerCache.GetValue(c, Container)));
        return response;
    }
}
