namespace CriSharp.Model;

/// <summary>Container lifecycle state (CRI ContainerState).</summary>
public enum ContainerState { Created, Running, Exited, Unknown }

/// <summary>The ids the container's process runs with, as resolved at create time.</summary>
public sealed record ContainerUserIds(long Uid, long Gid, List<long> AdditionalGids);

/// <summary>A container as stored: its request, what was made for it, and how it ran.</summary>
public sealed record ContainerRecord
{
    /// <summary>The <see cref="Reason"/> of a container stopped before it was ever started.</summary>
    public const string NeverStartedReason = "Created";

    public required string Id { get; init; }
    public required string SandboxId { get; init; }
    public required ContainerSpec Spec { get; init; }
    /// <summary>The image id (config digest) the container was created from.</summary>
    public required string ImageId { get; init; }
    public ContainerState State { get; init; } = ContainerState.Created;
    /// <summary>Unix times in nanoseconds; 0 when not reached.</summary>
    public long CreatedAt { get; init; }
    public long StartedAt { get; init; }
    public long FinishedAt { get; init; }
    public int ExitCode { get; init; }
    public string Reason { get; init; } = "";
    public string Message { get; init; } = "";
    public int Pid { get; init; }
    public int ConmonPid { get; init; }
    public required string RuntimeHandler { get; init; }
    /// <summary>state_dir/containers/&lt;id&gt;: config.json, pidfile, conmon files; rootfs mounted at Bundle/rootfs.</summary>
    public required string BundleDir { get; init; }
    /// <summary>root/containers/&lt;id&gt;: the overlay upper and work dirs (the writable layer).</summary>
    public required string LayerDir { get; init; }
    /// <summary>Absolute log path ("" when the pod has no log directory).</summary>
    public string LogPath { get; init; } = "";
    public string CgroupPath { get; init; } = "";
    /// <summary>RemoveContainer began: the next start finishes it if the daemon died on the way.</summary>
    public bool Removing { get; init; }
    /// <summary>Image layers the overlay uses; image GC keeps them until the container is removed.</summary>
    public List<string> ChainIds { get; init; } = [];
    /// <summary>Images mounted as image volumes: RemoveImage refuses them and image GC keeps their layers until removal.</summary>
    public List<string> VolumeImageIds { get; init; } = [];
    public List<string> VolumeChainIds { get; init; } = [];
    public ContainerUserIds? User { get; init; }
    /// <summary>Signal number sent first on stop.</summary>
    public int StopSignal { get; init; } = 15;

    public string RootfsPath => Path.Combine(BundleDir, "rootfs");
}
