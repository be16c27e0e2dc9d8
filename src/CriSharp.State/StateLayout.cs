namespace CriSharp.State;

/// <summary>
/// Every path CriSharp keeps under its two directories, in one place. The root dir (<c>root</c>, default
/// /var/lib/crisharp) survives reboots: records, images, layers, writable layers. The state dir (<c>state_dir</c>,
/// default /run/crisharp, usually tmpfs) holds what only makes sense while the host is up: bundles, pod files,
/// conmon's exit files and attach links.
/// </summary>
public static class StateLayout
{
    /// <summary>&lt;root&gt;/records/&lt;kind&gt;: one JSON record per sandbox or container (kind "sandboxes", "containers").</summary>
    public static string Records(string root, string kind) => Path.Combine(root, "records", kind);

    /// <summary>&lt;root&gt;/images: one record per image.</summary>
    public static string Images(string root) => Path.Combine(root, "images");

    /// <summary>&lt;root&gt;/quarantine: records that could not be trusted, with why.</summary>
    public static string Quarantine(string root) => Path.Combine(root, "quarantine");

    /// <summary>&lt;root&gt;/blobs/&lt;algorithm&gt;: verified content by digest.</summary>
    public static string Blobs(string root, string algorithm) => Path.Combine(root, "blobs", algorithm);

    /// <summary>&lt;root&gt;/ingest: downloads in progress (resumable).</summary>
    public static string Ingest(string root) => Path.Combine(root, "ingest");

    /// <summary>&lt;root&gt;/layers: one unpacked dir per layer chain id.</summary>
    public static string Layers(string root) => Path.Combine(root, "layers");

    /// <summary>&lt;root&gt;/containers: each container's writable layer (upper and work dirs).</summary>
    public static string ContainerLayers(string root) => Path.Combine(root, "containers");

    /// <summary>&lt;root&gt;/cni: the CNI results cached per pod attachment.</summary>
    public static string CniCache(string root) => Path.Combine(root, "cni");

    /// <summary>&lt;root&gt;/probes: the layers of the handler feature probes' containers.</summary>
    public static string ProbeLayers(string root) => Path.Combine(root, "probes");

    /// <summary>&lt;state&gt;/containers: each container's bundle (config.json, rootfs mount point, conmon files).</summary>
    public static string Bundles(string stateDir) => Path.Combine(stateDir, "containers");

    /// <summary>&lt;state&gt;/pods: each pod's dir (infra bundle, hostname, hosts, resolv.conf, shm, pinned namespaces).</summary>
    public static string Pods(string stateDir) => Path.Combine(stateDir, "pods");

    /// <summary>&lt;state&gt;/exits: conmon's exit file per container, named by its id.</summary>
    public static string Exits(string stateDir) => Path.Combine(stateDir, "exits");

    /// <summary>&lt;state&gt;/a: conmon's attach links per container (short, so the socket path fits sun_path).</summary>
    public static string AttachLinks(string stateDir) => Path.Combine(stateDir, "a");

    /// <summary>&lt;state&gt;/exec: process files and console sockets of exec sessions.</summary>
    public static string Exec(string stateDir) => Path.Combine(stateDir, "exec");

    /// <summary>&lt;state&gt;/probes: the bundles of the handler feature probes.</summary>
    public static string Probes(string stateDir) => Path.Combine(stateDir, "probes");
}
