
namespace CriSharp.Model;

/// <summary>Sandbox lifecycle state (CRI PodSandboxState).</summary>
public enum SandboxState { Ready, NotReady }

/// <summary>A port published by the pod (CRI PortMapping).</summary>
public sealed record PortMappingSpec(string Protocol, int ContainerPort, int HostPort, string HostIp);

/// <summary>The pod-level security settings (CRI LinuxSandboxSecurityContext).</summary>
public sealed record SandboxSecuritySpec
{
    public NamespaceModes Namespaces { get; init; } = new();
    public long? RunAsUser { get; init; }
    public long? RunAsGroup { get; init; }
    public bool ReadonlyRootfs { get; init; }
    public List<long> SupplementalGroups { get; init; } = [];
    public bool Privileged { get; init; }
    public ProfileSpec Seccomp { get; init; } = new(ProfileKind.Unconfined);
    public ProfileSpec Apparmor { get; init; } = new(ProfileKind.Unconfined);
    public SelinuxSpec Selinux { get; init; } = new();
}

/// <summary>What RunPodSandbox asks for, in the engine's terms.</summary>
public sealed record SandboxSpec
{
    public required string Name { get; init; }
    public required string Uid { get; init; }
    public required string Namespace { get; init; }
    public uint Attempt { get; init; }
    public string Hostname { get; init; } = "";
    public string LogDirectory { get; init; } = "";
    public List<string> DnsServers { get; init; } = [];
    public List<string> DnsSearches { get; init; } = [];
    public List<string> DnsOptions { get; init; } = [];
    public List<PortMappingSpec> PortMappings { get; init; } = [];
    public Dictionary<string, string> Labels { get; init; } = [];
    public Dictionary<string, string> Annotations { get; init; } = [];
    public string CgroupParent { get; init; } = "";
    public SandboxSecuritySpec Security { get; init; } = new();
    public Dictionary<string, string> Sysctls { get; init; } = [];
    public ResourceSpec? Overhead { get; init; }
    public ResourceSpec? Resources { get; init; }
    public string RuntimeHandler { get; init; } = "";
}

/// <summary>A pod sandbox as stored: its request plus what the runtime made for it.</summary>
public sealed record PodSandbox
{
    public required string Id { get; init; }
    public required SandboxSpec Spec { get; init; }
    public SandboxState State { get; init; } = SandboxState.Ready;
    /// <summary>Unix time in nanoseconds.</summary>
    public long CreatedAt { get; init; }
    /// <summary>Resolved handler name (never empty).</summary>
    public required string RuntimeHandler { get; init; }
    /// <summary>Directory with hostname, hosts, resolv.conf and the shm mount point.</summary>
    public required string Dir { get; init; }
    /// <summary>Pinned namespace files, or "" where the pod uses the host's namespace.</summary>
    public string NetNsPath { get; init; } = "";
    public string IpcNsPath { get; init; } = "";
    public string UtsNsPath { get; init; } = "";
    /// <summary>The pinned user namespace of a pod with userns_options POD, or "" (the node's).</summary>
    public string UserNsPath { get; init; } = "";
    /// <summary>The tmpfs mounted for /dev/shm, or "" with host IPC.</summary>
    public string ShmPath { get; init; } = "";
    /// <summary>
    /// The pod's cgroup, relative to the hierarchy root (cgroupfs driver): the kubelet's cgroup_parent, e.g.
    /// "/kubepods/burstable/pod123", which the kubelet owns, or "/crisharp/&lt;id&gt;" made for a pod without one.
    /// Containers and the infra process get cgroups of their own below it.
    /// </summary>
    public string CgroupPath { get; init; } = "";
    /// <summary>True when CriSharp made <see cref="CgroupPath"/> (no cgroup_parent given), so removing the pod removes it.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool OwnsPodCgroup => string.IsNullOrWhiteSpace(Spec.CgroupParent);
    /// <summary>The infra container holding the pod's PID namespace when Namespaces.Pid is Pod.</summary>
    public string InfraContainerId { get; init; } = "";
    public int InfraPid { get; init; }
    /// <summary>The infra process's cgroup below <see cref="CgroupPath"/> ("" without one; records of older versions used "crisharp-infra").</summary>
    public string InfraCgroupPath { get; init; } = "";
    public List<string> Ips { get; init; } = [];
    /// <summary>RemovePodSandbox began: the next start finishes it if the daemon died on the way.</summary>
    public bool Removing { get; init; }

    public string HostnamePath => Path.Combine(Dir, "hostname");
    public string HostsPath => Path.Combine(Dir, "hosts");
    public string ResolvConfPath => Path.Combine(Dir, "resolv.conf");
}
