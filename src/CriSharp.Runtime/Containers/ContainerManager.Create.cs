using System.Collections.Concurrent;
using System.Text.Json;
using CriSharp.Images;
using CriSharp.Linux;
using CriSharp.Mechanism.Cdi;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.Runtime.Pods;
using CriSharp.Runtime.Spec;
using CriSharp.State;

namespace CriSharp.Runtime.Containers;

/// <summary>CreateContainer: validation first, then the rootfs, image volumes, bundle and the runtime's create, undone in reverse on failure.</summary>
public sealed partial class ContainerManager
{
    public async Task<ContainerRecord> CreateAsync(string sandboxId, ContainerSpec spec, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(spec.Name) || spec.Name.Contains('/') || spec.Name.Contains('\0'))
            throw new InvalidRequestException("config.metadata.name", $"'{spec.Name}' is not a valid container name");
        var sandbox = _sandboxes.Find(sandboxId) ?? throw new ObjectNotFoundException($"pod sandbox {sandboxId} not found");
        if (sandbox.State != SandboxState.Ready)
            throw new WrongStateException($"pod sandbox {sandbox.Id} is not ready");
        var image = _images.Find(spec.Image, _puller.DefaultRegistry)
            ?? throw new ObjectNotFoundException($"image \"{spec.Image}\" not found: pull it first");
        var logPath = ResolveLogPath(sandbox, spec.LogPath);
        UserNamespaceValidator.ValidateContainer(spec.Security.Namespaces, sandbox);
        UserNamespaceValidator.ValidateMounts(spec.Mounts, sandbox);
        var volumes = ImageVolumes.Resolve(spec.Mounts, reference => _images.Find(reference, _puller.DefaultRegistry), sandbox);
        // kubelet sends CDI devices in the field, and for older device plugins as cdi.k8s.io/ annotations.
        var devices = _cdi.Resolve([.. spec.CdiDevices, .. CdiRegistry.DevicesFromAnnotations(spec.Annotations)]);
        var name = Naming.ContainerName(spec.Name, sandbox.Spec.Name, sandbox.Spec.Namespace, sandbox.Spec.Uid, spec.Attempt);
        // On no caller's token: a retry that joined it gets the same result even if the first caller gave up.
        var (id, outcome) = await _names.CreateAsync(name, () => CreateInPodAsync(sandbox.Id, () => CreateCoreAsync(sandbox, image, volumes, devices, spec, logPath, CancellationToken.None)), ct);
        if (outcome == CreateOutcome.AlreadyExists)
            throw new NameInUseException($"container name \"{name}\" is already used by {id}");
        return _containers.Get(id) ?? throw new ObjectNotFoundException($"container {id} vanished while it was being created");
    }

    /// <summary>
    /// Runs a create registered as in flight in its pod, then checks the pod again. A pod's stop or removal marks it
    /// NotReady before it looks for creates in flight, so either it waits for this one, or this one sees the pod is
    /// no longer ready and refuses: a container is never made in a pod being stopped or removed.
    /// </summary>
    async Task<string> CreateInPodAsync(string sandboxId, Func<Task<string>> create)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var set = _creating.GetOrAdd(sandboxId, _ => new ConcurrentDictionary<Task, byte>());
        set[done.Task] = 0;
        try
        {
            var sandbox = _sandboxes.Get(sandboxId) ?? throw new ObjectNotFoundException($"pod sandbox {sandboxId} was removed");
            if (sandbox.State != SandboxState.Ready)
                throw new WrongStateException($"pod sandbox {sandboxId} is not ready (it is being stopped or removed)");
            return await create();
        }
        finally
        {
            set.TryRemove(done.Task, out _);
            done.SetResult();
        }
    }

    /// <summary>The log file must stay inside the pod's log directory: no absolute paths, no "..".</summary>
    static string ResolveLogPath(PodSandbox sandbox, string relative)
    {
        if (relative.Length == 0) return "";
        if (sandbox.Spec.LogDirectory.Length == 0)
            throw new InvalidRequestException("config.log_path", "set, but the pod sandbox has no log_directory");
        if (Path.IsPathRooted(relative) || relative.Split('/').Any(p => p == ".."))
            throw new InvalidRequestException("config.log_path", $"'{relative}' must be relative to the pod's log directory without '..'");
        var dir = Path.GetFullPath(sandbox.Spec.LogDirectory);
        var full = Path.GetFullPath(Path.Combine(dir, relative));
        if (!full.StartsWith(dir.TrimEnd('/') + "/", StringComparison.Ordinal))
            throw new InvalidRequestException("config.log_path", $"'{relative}' leaves the pod's log directory");
        return full;
    }

    /// <summary>A container being made: where its parts go and how to take them back if the create fails.</summary>
    sealed class Making(string id, string bundle, string layerDir)
    {
        public string Id { get; } = id;
        public string Bundle { get; } = bundle;
        public string LayerDir { get; } = layerDir;
        public string Rootfs => Path.Combine(Bundle, "rootfs");
        public Stack<Func<Task>> Undo { get; } = new();
        /// <summary>Idmapped clones (a pod with its own user namespace), released once the runtime has made its mounts.</summary>
        public IdmapStaging? Staging { get; set; }
        /// <summary>Per request mount: what the create prepared for it (idmapped clone, image volume), else null.</summary>
        public List<string?>? MountSources { get; set; }
    }

    async Task<string> CreateCoreAsync(PodSandbox sandbox, ImageRecord image, Dictionary<int, ImageRecord> volumes, CdiResolution devices, ContainerSpec spec, string logPath, CancellationToken ct)
    {
        var id = Naming.NewId();
        var making = new Making(id, Path.Combine(ContainersStateDir, id), Path.Combine(ContainersLayerDir, id));
        var runtime = RuntimeFor(sandbox.RuntimeHandler);
        using var pin = _images.Pin(image.ChainIds.Concat(volumes.Values.SelectMany(v => v.ChainIds)));
        try
        {
            await MountFileSystemsAsync(making, sandbox, image, volumes, spec, ct);
            var cgroup = _cgroups.ContainerCgroupPath(sandbox.CgroupPath, id);
            var ociSpec = OciSpecGenerator.Generate(new SpecInput(spec with { Resources = ClampOomScoreAdj(spec.Resources) }, sandbox, _puller.ReadConfig(image), making.Rootfs, cgroup, PidNamespaceFor(sandbox, spec), id)
            {
                MountSources = making.MountSources,
            });
            CdiEditor.Apply(ociSpec, devices, spec.Security.Privileged);
            AtomicFile.Write(Path.Combine(making.Bundle, "config.json"), JsonSerializer.SerializeToUtf8Bytes(ociSpec, OciJsonContext.Default.OciSpec));

            if (logPath.Length > 0) Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
            var process = await _monitor.CreateAsync(new ContainerLaunch(id, spec.Name, making.Bundle, runtime, logPath, spec.Tty, spec.Stdin, spec.StdinOnce), ct);
            making.Undo.Push(async () => await runtime.DeleteAsync(id, force: true));
            // The runtime has made the container's mounts: the idmapped clones have done their part.
            making.Staging?.Release();

            _containers.Put(new ContainerRecord
            {
                Id = id,
                SandboxId = sandbox.Id,
                Spec = spec,
                ImageId = image.Id,
                CreatedAt = Naming.NowNanos(),
                Pid = process.Pid,
                ConmonPid = process.ConmonPid,
                RuntimeHandler = sandbox.RuntimeHandler,
                BundleDir = making.Bundle,
                LayerDir = making.LayerDir,
                LogPath = logPath,
                CgroupPath = cgroup,
                ChainIds = [.. image.ChainIds],
                VolumeImageIds = [.. volumes.Values.Select(v => v.Id).Distinct()],
                VolumeChainIds = [.. volumes.Values.SelectMany(v => v.ChainIds).Distinct()],
                User = ociSpec.Process?.User is { } u ? new ContainerUserIds(u.Uid, u.Gid, [.. (u.AdditionalGids ?? []).Select(g => (long)g)]) : null,
                StopSignal = Signals.Parse(spec.StopSignal.Length > 0 ? spec.StopSignal : _puller.ReadConfig(image).Config?.StopSignal ?? ""),
            });
            _log.Information("container {ContainerId} ({Name}) created in pod {PodId} from {Image}", id, spec.Name, sandbox.Id, image.Id);
            return id;
        }
        catch
        {
            await UndoAsync(making);
            throw;
        }
    }

    /// <summary>The bundle and writable layer dirs, the rootfs overlay (over idmapped clones in a pod with its own user namespace) and the image volumes.</summary>
    async Task MountFileSystemsAsync(Making making, PodSandbox sandbox, ImageRecord image, Dictionary<int, ImageRecord> volumes, ContainerSpec spec, CancellationToken ct)
    {
        Directory.CreateDirectory(making.Rootfs);
        making.Undo.Push(() => { DeleteDir(making.Bundle); return Task.CompletedTask; });
        var upper = Path.Combine(making.LayerDir, "upper");
        var work = Path.Combine(making.LayerDir, "work");
        Directory.CreateDirectory(upper);
        Directory.CreateDirectory(work);
        making.Undo.Push(() => { DeleteDir(making.LayerDir); return Task.CompletedTask; });

        var lowers = LowersOf(image);
        var userns = sandbox.UserNsPath.Length > 0 ? sandbox.Spec.Security.Namespaces.User : null;
        if (userns is not null)
        {
            // The layers appear owned by the pod's ids through idmapped clones; the container's own writable
            // layer belongs to its root on the host, so what it writes lands as the mapped ids.
            var staging = making.Staging = IdmapStaging.Create(making.Bundle);
            making.Undo.Push(() => { staging.Release(); return Task.CompletedTask; });
            var (uid, gid) = userns.HostRoot;
            FileMetadata.Lchown(upper, uid, gid);
            lowers = staging.MapLowers(lowers, sandbox.UserNsPath);
            making.MountSources = await staging.MapVolumesAsync(spec.Mounts, sandbox, _pinner, ct);
        }
        Mounts.MountOverlay(lowers, upper, work, making.Rootfs, readOnly: false);
        making.Undo.Push(() => { Mounts.Unmount(making.Rootfs, detach: true); return Task.CompletedTask; });
        if (volumes.Count == 0) return;
        making.Undo.Push(() => { ImageVolumes.UnmountAll(making.Bundle); return Task.CompletedTask; });
        var sources = making.MountSources ??= [.. spec.Mounts.Select(_ => (string?)null)];
        foreach (var (index, volume) in volumes)
        {
            var layers = making.Staging is { } s ? s.MapLowers(LowersOf(volume), sandbox.UserNsPath, $"v{index}l") : LowersOf(volume);
            sources[index] = ImageVolumes.Mount(making.Bundle, index, spec.Mounts[index], layers);
        }
    }

    /// <summary>Takes back what a failed create made, newest first; a step that fails is logged and the rest still run.</summary>
    async Task UndoAsync(Making making)
    {
        while (making.Undo.TryPop(out var step))
        {
            try { await step(); }
            catch (Exception e) { _log.Warning("cleaning up failed container {ContainerId}: {Error}", making.Id, e.Message); }
        }
        DeleteAttachEntry(making.Id);
        SweepOrphanExitFilesLater();
    }

    string? PidNamespaceFor(PodSandbox sandbox, ContainerSpec spec)
    {
        var ns = spec.Security.Namespaces;
        switch (ns.Pid)
        {
            case NamespaceMode.Pod:
                if (sandbox.InfraPid <= 0 || !Directory.Exists($"/proc/{sandbox.InfraPid}"))
                    throw new WrongStateException($"pod sandbox {sandbox.Id} has no running infra process holding its shared PID namespace (was it created with namespace_options.pid = POD?)");
                return $"/proc/{sandbox.InfraPid}/ns/pid";
            case NamespaceMode.Target:
                var c = _containers.Find(ns.TargetId) ?? throw new ObjectNotFoundException($"target container {ns.TargetId} for the PID namespace not found");
                if (c.State != ContainerState.Running || c.Pid <= 0)
                    throw new WrongStateException($"target container {ns.TargetId} is not running");
                return $"/proc/{c.Pid}/ns/pid";
            default:
                return null;
        }
    }
}
