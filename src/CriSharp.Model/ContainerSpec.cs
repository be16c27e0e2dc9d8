using System.Text.Json.Serialization;

namespace CriSharp.Model;

/// <summary>How a mount's propagation is set up (CRI MountPropagation).</summary>
public enum MountPropagationMode { Private, HostToContainer, Bidirectional }

/// <summary>A namespace choice (CRI NamespaceMode).</summary>
public enum NamespaceMode { Pod, Container, Node, Target }

/// <summary>Which groups a process gets (CRI SupplementalGroupsPolicy).</summary>
public enum SupplementalGroupsPolicy { Merge, Strict }

/// <summary>The kind of a seccomp/AppArmor profile (CRI SecurityProfile.ProfileType).</summary>
public enum ProfileKind { RuntimeDefault, Unconfined, Localhost }

/// <summary>A seccomp or AppArmor profile choice; <see cref="LocalhostRef"/> only with Localhost.</summary>
public sealed record ProfileSpec(ProfileKind Kind, string LocalhostRef = "");

/// <summary>
/// A CRI mount: host path bound at container path. With <see cref="UidMappings"/>/<see cref="GidMappings"/> (kubelet
/// sends the pod's own mappings) the bind is an idmapped mount: host owners appear translated through them.
/// With <see cref="Image"/> it is an image volume (KEP-4639): the image's layers as a read-only overlay, or the
/// <see cref="ImageSubPath"/> directory of it, and <see cref="HostPath"/> is empty.
/// </summary>
public sealed record MountSpec(string ContainerPath, string HostPath, bool Readonly = false,
    MountPropagationMode Propagation = MountPropagationMode.Private, bool RecursiveReadOnly = false, bool SelinuxRelabel = false,
    List<IdMapping>? UidMappings = null, List<IdMapping>? GidMappings = null, string Image = "", string ImageSubPath = "")
{
    [JsonIgnore] public bool Idmapped => UidMappings is { Count: > 0 } || GidMappings is { Count: > 0 };
    [JsonIgnore] public bool IsImage => Image.Length > 0;
}

/// <summary>Container ids [ContainerId, ContainerId + Length) are host ids from HostId on (CRI IDMapping).</summary>
public sealed record IdMapping(uint ContainerId, uint HostId, uint Length)
{
    /// <summary>The /proc/PID/uid_map line for this range.</summary>
    [JsonIgnore] public string MapLine => $"{ContainerId} {HostId} {Length}";
}

/// <summary>
/// The user namespace a pod asks for (CRI UserNamespace): the node's (Node, as without the field) or a new one
/// per pod (Pod) with one uid and one gid range, container id 0 first.
/// </summary>
public sealed record UserNamespaceSpec(NamespaceMode Mode = NamespaceMode.Node, List<IdMapping>? Uids = null, List<IdMapping>? Gids = null)
{
    [JsonIgnore] public bool IsPod => Mode == NamespaceMode.Pod;

    /// <summary>The host uid/gid of container root (the owner of the pod's own files and writable layers).</summary>
    [JsonIgnore] public (uint Uid, uint Gid) HostRoot => (Uids![0].HostId, Gids![0].HostId);

    public bool SameAs(UserNamespaceSpec? other) => other is not null && other.Mode == Mode
        && (Uids ?? []).SequenceEqual(other.Uids ?? []) && (Gids ?? []).SequenceEqual(other.Gids ?? []);

    public override string ToString() => IsPod
        ? $"POD uids [{string.Join(", ", (Uids ?? []).Select(m => m.MapLine))}] gids [{string.Join(", ", (Gids ?? []).Select(m => m.MapLine))}]"
        : Mode.ToString().ToUpperInvariant();
}

/// <summary>A host device made available in the container, with "rwm" permissions.</summary>
public sealed record DeviceSpec(string ContainerPath, string HostPath, string Permissions);

/// <summary>
/// Namespace modes for network, PID and IPC, and the user namespace (CRI NamespaceOption); a null
/// <see cref="User"/> means the request had no userns_options (the node's).
/// </summary>
public sealed record NamespaceModes(NamespaceMode Network = NamespaceMode.Pod, NamespaceMode Pid = NamespaceMode.Container,
    NamespaceMode Ipc = NamespaceMode.Pod, string TargetId = "", UserNamespaceSpec? User = null);

/// <summary>A hugetlb limit: page size as CRI writes it ("2MB", "1GB") and the byte limit.</summary>
public sealed record HugepageLimitSpec(string PageSize, ulong Limit);

/// <summary>Container or pod resources (CRI LinuxContainerResources); 0 or empty means unset.</summary>
public sealed record ResourceSpec
{
    public long CpuPeriod { get; init; }
    public long CpuQuota { get; init; }
    public long CpuShares { get; init; }
    public long MemoryLimitInBytes { get; init; }
    public long MemorySwapLimitInBytes { get; init; }
    public long OomScoreAdj { get; init; }
    public string CpusetCpus { get; init; } = "";
    public string CpusetMems { get; init; } = "";
    public List<HugepageLimitSpec> HugepageLimits { get; init; } = [];
    public Dictionary<string, string> Unified { get; init; } = [];
}

/// <summary>SELinux labels requested for a container or pod (ignored when SELinux is off).</summary>
public sealed record SelinuxSpec(string User = "", string Role = "", string Type = "", string Level = "");

/// <summary>A container's security settings (CRI LinuxContainerSecurityContext).</summary>
public sealed record SecuritySpec
{
    public List<string> AddCapabilities { get; init; } = [];
    public List<string> DropCapabilities { get; init; } = [];
    public List<string> AddAmbientCapabilities { get; init; } = [];
    public bool Privileged { get; init; }
    public NamespaceModes Namespaces { get; init; } = new();
    public long? RunAsUser { get; init; }
    public long? RunAsGroup { get; init; }
    public string RunAsUsername { get; init; } = "";
    public bool ReadonlyRootfs { get; init; }
    public List<long> SupplementalGroups { get; init; } = [];
    public SupplementalGroupsPolicy SupplementalGroupsPolicy { get; init; }
    public bool NoNewPrivs { get; init; }
    /// <summary>
    /// Null or empty means "use the defaults"; in a pod with its own user namespace, both lists empty means none
    /// (kubelet's Unmasked procMount, KEP-4265: it always sends the default lists otherwise).
    /// </summary>
    public List<string>? MaskedPaths { get; init; }
    public List<string>? ReadonlyPaths { get; init; }
    public ProfileSpec Seccomp { get; init; } = new(ProfileKind.Unconfined);
    public ProfileSpec Apparmor { get; init; } = new(ProfileKind.Unconfined);
    public SelinuxSpec Selinux { get; init; } = new();
}

/// <summary>Everything a CreateContainer call asks for, in the engine's own terms.</summary>
public sealed record ContainerSpec
{
    public required string Name { get; init; }
    public uint Attempt { get; init; }
    /// <summary>The image as the caller named it (id, tag or digest reference).</summary>
    public required string Image { get; init; }
    public List<string> Command { get; init; } = [];
    public List<string> Args { get; init; } = [];
    public string WorkingDir { get; init; } = "";
    public List<KeyValuePair<string, string>> Envs { get; init; } = [];
    public List<MountSpec> Mounts { get; init; } = [];
    public List<DeviceSpec> Devices { get; init; } = [];
    /// <summary>Qualified CDI device names (CRI CDI_devices), "vendor.com/class=name".</summary>
    public List<string> CdiDevices { get; init; } = [];
    public Dictionary<string, string> Labels { get; init; } = [];
    public Dictionary<string, string> Annotations { get; init; } = [];
    /// <summary>Relative to the sandbox's log directory.</summary>
    public string LogPath { get; init; } = "";
    public bool Stdin { get; init; }
    public bool StdinOnce { get; init; }
    public bool Tty { get; init; }
    public ResourceSpec Resources { get; init; } = new();
    public SecuritySpec Security { get; init; } = new();
    /// <summary>Signal name like "SIGTERM", or "" for the image's StopSignal / SIGTERM.</summary>
    public string StopSignal { get; init; } = "";
}
