using System.Collections.Concurrent;
using CriSharp.Configuration;
using CriSharp.Images;
using CriSharp.Images.Layers;
using CriSharp.Linux;
using CriSharp.Mechanism.Cdi;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.State;
using Serilog;

namespace CriSharp.Runtime.Containers;

/// <summary>
/// Containers: overlay rootfs over the image layers, OCI bundle, start under conmon with the pod's
/// runtime handler, stop/kill, exit tracking from conmon's exit files, removal, and recovery.
/// </summary>
public sealed partial class ContainerManager : IPodContainers
{
    readonly LiveConfig _config;
    readonly RecordIndex<ContainerRecord> _containers;
    readonly RecordIndex<PodSandbox> _sandboxes;
    readonly ImageStore _images;
    readonly ImagePuller _puller;
    readonly LayerStore _layers;
    readonly ICgroupManager _cgroups;
    readonly IContainerMonitor _monitor;
    readonly IOciRuntimes _runtimes;
    readonly ExitWatcher _exits;
    readonly NamespacePinner _pinner;
    readonly CdiRegistry _cdi;
    readonly ILogger _log;
    readonly NameRegistry _names = new();
    readonly KeyedLock _locks = new();
    readonly ConcurrentDictionary<string, TaskCompletionSource> _exitWaiters = new();
    // Creates still running, per pod: a pod's stop or removal waits for them, so a create that finishes after its
    // caller gave up is recorded and then stopped or removed with the pod, never left behind (runc would even
    // re-make the pod's cgroup for it).
    readonly ConcurrentDictionary<string, ConcurrentDictionary<Task, byte>> _creating = new();

    public ContainerManager(LiveConfig config, RecordIndex<ContainerRecord> containers, RecordIndex<PodSandbox> sandboxes,
        ImageStore images, ImagePuller puller, LayerStore layers, ICgroupManager cgroups, IOciRuntimes runtimes, IContainerMonitor monitor, ExitWatcher exits, NamespacePinner pinner, CdiRegistry cdi, ILogger log)
    {
        _pinner = pinner;
        _cdi = cdi;
        _config = config;
        _containers = containers;
        _sandboxes = sandboxes;
        _images = images;
        _puller = puller;
        _layers = layers;
        _cgroups = cgroups;
        _runtimes = runtimes;
        _monitor = monitor;
        _exits = exits;
        _log = log;
        _exits.ContainerExited += OnExited;
    }

    public string ContainersStateDir => StateLayout.Bundles(_config.Current.StateDir);
    public string ContainersLayerDir => StateLayout.ContainerLayers(_config.Current.Root);

    public IOciRuntime RuntimeFor(string handler) => _runtimes.For(handler);

    /// <summary>Why <paramref name="handler"/> cannot be used now (not configured, binary missing), or null when it can.</summary>
    public string? HandlerUnavailable(string handler)
    {
        try
        {
            RuntimeFor(handler).EnsureAvailable();
            return null;
        }
        catch (HandlerUnavailableException e)
        {
            return e.Message;
        }
    }

    public ContainerRecord? Find(string id) => _containers.Find(id);

    public IReadOnlyList<ContainerRecord> List() => _containers.All();

    /// <summary>The image's layer directories, top first, as overlayfs wants them.</summary>
    List<string> LowersOf(ImageRecord image) =>
        [.. image.ChainIds.AsEnumerable().Reverse().Select(c => _layers.PathOf(Images.Content.Digest.Parse(c)))];

    /// <summary>A container that will not run again needs its image volumes no more (removal unmounts them too).</summary>
    void ReleaseImageVolumes(ContainerRecord c)
    {
        if (c.VolumeImageIds.Count == 0) return;
        try { ImageVolumes.UnmountAll(c.BundleDir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
        {
            _log.Warning("container {ContainerId}: its image volumes stay mounted until it is removed: {Error}", c.Id, e.Message);
        }
    }

    /// <summary>
    /// Without CAP_SYS_RESOURCE an oom_score_adj below our own cannot be set (runc would fail the create),
    /// so it is raised to ours, as containerd's restrict_oom_score_adj does.
    /// </summary>
    ResourceSpec ClampOomScoreAdj(ResourceSpec r) =>
        OomScore.Restricted && r.OomScoreAdj < OomScore.Own ? r with { OomScoreAdj = OomScore.Own } : r;

    /// <summary>conmon links &lt;attach dir&gt;/&lt;id&gt; to the bundle to keep the socket path short; it goes with the container.</summary>
    void DeleteAttachEntry(string id)
    {
        var entry = _monitor.AttachLinkOf(id);
        if (File.Exists(entry) || Directory.Exists(entry) || new FileInfo(entry).LinkTarget != null)
        {
            try { File.Delete(entry); }
            catch (UnauthorizedAccessException) { DeleteDir(entry); }
            catch (IOException) { DeleteDir(entry); }
        }
    }

    /// <summary>
    /// conmon writes the exit file of a half-made container only after it is killed, so a sweep some
    /// seconds later removes exit files that belong to no container (after recovery or a failed create).
    /// </summary>
    void SweepOrphanExitFilesLater() => _ = Task.Run(async () =>
    {
        await Task.Delay(TimeSpan.FromSeconds(5));
        var pods = _sandboxes.QuarantinedIds();
        var containers = _containers.QuarantinedIds();
        foreach (var file in Directory.EnumerateFiles(_monitor.ExitDir))
        {
            var id = Path.GetFileName(file);
            var known = id.StartsWith("infra-", StringComparison.Ordinal)
                ? _sandboxes.Get(id["infra-".Length..]) != null || pods.Contains(id["infra-".Length..])
                : _containers.Get(id) != null || containers.Contains(id);
            if (!known) _exits.Forget(id);
        }
    });

    static void DeleteDir(string dir)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}
