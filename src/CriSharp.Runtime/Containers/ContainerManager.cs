using System.Collections.Concurrent;
using System.Text.Json;
using CriSharp.Configuration;
using CriSharp.Images;
using CriSharp.Images.Layers;
using CriSharp.Linux;
using CriSharp.Runtime.Cdi;
using CriSharp.Runtime.Cgroups;
using CriSharp.Runtime.Monitor;
using CriSharp.Runtime.Oci;
using CriSharp.Runtime.Pods;
using CriSharp.State;
using Serilog;

namespace CriSharp.Runtime.Containers;

/// <summary>
/// Containers: overlay rootfs over the image layers, OCI bundle, start under conmon with the pod's
/// runtime handler, stop/kill, exit tracking from conmon's exit files, removal, and recovery.
/// </summary>
public sealed class ContainerManager
{
    readonly LiveConfig _config;
    readonly RecordIndex<ContainerRecord> _containers;
    readonly RecordIndex<PodSandbox> _sandboxes;
    readonly ImageStore _images;
    readonly ImagePuller _puller;
    readonly LayerStore _layers;
    readonly ICgroupManager _cgroups;
    readonly ConmonMonitor _monitor;
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
        ImageStore images, ImagePuller puller, LayerStore layers, ICgroupManager cgroups, ConmonMonitor monitor, ExitWatcher exits, NamespacePinner pinner, CdiRegistry cdi, ILogger log)
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
        _monitor = monitor;
        _exits = exits;
        _log = log;
        _exits.ContainerExited += OnExited;
        images.LayersInUse = () => _containers.All().SelectMany(c => c.ChainIds.Concat(c.VolumeChainIds)).ToHashSet(StringComparer.Ordinal);
        images.VolumeUserOf = imageId => _containers.All().FirstOrDefault(c => c.VolumeImageIds.Contains(imageId))?.Id;
    }

    public string ContainersStateDir => Path.Combine(_config.Current.StateDir, "containers");
    public string ContainersLayerDir => Path.Combine(_config.Current.Root, "containers");

    public OciRuntime RuntimeFor(string handler)
    {
        var h = _config.Current.Runtimes.GetValueOrDefault(handler)
            ?? throw new HandlerUnavailableException(handler, "it is no longer configured");
        return new OciRuntime(handler, h.Path, h.RootDir);
    }

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

    async Task<string> CreateCoreAsync(PodSandbox sandbox, ImageRecord image, Dictionary<int, ImageRecord> volumes, CdiResolution devices, ContainerSpec spec, string logPath, CancellationToken ct)
    {
        var id = Naming.NewId();
        var bundle = Path.Combine(ContainersStateDir, id);
        var layerDir = Path.Combine(ContainersLayerDir, id);
        var rootfs = Path.Combine(bundle, "rootfs");
        var runtime = RuntimeFor(sandbox.RuntimeHandler);
        var undo = new Stack<Func<Task>>();
        using var pin = _images.Pin(image.ChainIds.Concat(volumes.Values.SelectMany(v => v.ChainIds)));
        var userns = sandbox.UserNsPath.Length > 0 ? sandbox.Spec.Security.Namespaces.User : null;
        IdmapStaging? staging = null;
        try
        {
            Directory.CreateDirectory(rootfs);
            undo.Push(() => { DeleteDir(bundle); return Task.CompletedTask; });
            var upper = Path.Combine(layerDir, "upper");
            Directory.CreateDirectory(upper);
            Directory.CreateDirectory(Path.Combine(layerDir, "work"));
            undo.Push(() => { DeleteDir(layerDir); return Task.CompletedTask; });

            var lowers = LowersOf(image);
            List<string?>? mountSources = null;
            if (userns is not null)
            {
                // The layers appear owned by the pod's ids through idmapped clones; the container's own writable
                // layer belongs to its root on the host, so what it writes lands as the mapped ids.
                staging = IdmapStaging.Create(bundle);
                undo.Push(() => { staging.Release(); return Task.CompletedTask; });
                var (uid, gid) = userns.HostRoot;
                FileMetadata.Lchown(upper, uid, gid);
                lowers = staging.MapLowers(lowers, sandbox.UserNsPath);
                mountSources = await staging.MapVolumesAsync(spec.Mounts, sandbox, _pinner, ct);
            }
            Mounts.MountOverlay(lowers, upper, Path.Combine(layerDir, "work"), rootfs, readOnly: false);
            undo.Push(() => { Mounts.Unmount(rootfs, detach: true); return Task.CompletedTask; });
            if (volumes.Count > 0)
            {
                undo.Push(() => { ImageVolumes.UnmountAll(bundle); return Task.CompletedTask; });
                mountSources ??= [.. spec.Mounts.Select(_ => (string?)null)];
                foreach (var (index, volume) in volumes)
                {
                    var layers = staging is null ? LowersOf(volume) : staging.MapLowers(LowersOf(volume), sandbox.UserNsPath, $"v{index}l");
                    mountSources[index] = ImageVolumes.Mount(bundle, index, spec.Mounts[index], layers);
                }
            }

            var cgroup = _cgroups.ContainerCgroupPath(sandbox.CgroupPath, id);
            var pidNs = PidNamespaceFor(sandbox, spec);
            var ociSpec = OciSpecGenerator.Generate(new SpecInput(spec with { Resources = ClampOomScoreAdj(spec.Resources) }, sandbox, _puller.ReadConfig(image), rootfs, cgroup, pidNs, id)
            {
                MountSources = mountSources,
            });
            CdiEditor.Apply(ociSpec, devices, spec.Security.Privileged);
            AtomicFile.Write(Path.Combine(bundle, "config.json"), JsonSerializer.SerializeToUtf8Bytes(ociSpec, OciJsonContext.Default.OciSpec));

            if (logPath.Length > 0) Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
            var process = await _monitor.CreateAsync(new ContainerLaunch(id, spec.Name, bundle, runtime, logPath, spec.Tty, spec.Stdin, spec.StdinOnce), ct);
            undo.Push(async () => await runtime.DeleteAsync(id, force: true));
            // The runtime has made the container's mounts: the idmapped clones have done their part.
            staging?.Release();

            var record = new ContainerRecord
            {
                Id = id,
                SandboxId = sandbox.Id,
                Spec = spec,
                ImageId = image.Id,
                CreatedAt = Naming.NowNanos(),
                Pid = process.Pid,
                ConmonPid = process.ConmonPid,
                RuntimeHandler = sandbox.RuntimeHandler,
                BundleDir = bundle,
                LayerDir = layerDir,
                LogPath = logPath,
                CgroupPath = cgroup,
                ChainIds = [.. image.ChainIds],
                VolumeImageIds = [.. volumes.Values.Select(v => v.Id).Distinct()],
                VolumeChainIds = [.. volumes.Values.SelectMany(v => v.ChainIds).Distinct()],
                User = ociSpec.Process?.User is { } u ? new ContainerUserIds(u.Uid, u.Gid, [.. (u.AdditionalGids ?? []).Select(g => (long)g)]) : null,
                StopSignal = Signals.Parse(spec.StopSignal.Length > 0 ? spec.StopSignal : _puller.ReadConfig(image).Config?.StopSignal ?? ""),
            };
            _containers.Put(record);
            _log.Information("container {ContainerId} ({Name}) created in pod {PodId} from {Image}", id, spec.Name, sandbox.Id, image.Id);
            return id;
        }
        catch
        {
            while (undo.TryPop(out var step))
            {
                try { await step(); }
                catch (Exception e) { _log.Warning("cleaning up failed container {ContainerId}: {Error}", id, e.Message); }
            }
            DeleteAttachEntry(id);
            SweepOrphanExitFilesLater();
            throw;
        }
    }

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

    public async Task StartAsync(string id, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        using var _ = await _locks.AcquireAsync(c.Id, ct);
        c = _containers.Get(c.Id)!;
        if (c.State != ContainerState.Created)
            throw new WrongStateException($"container {c.Id} is {c.State.ToString().ToLowerInvariant()}, not created");
        // Taken before the start: a process that exits at once must never finish before it "started".
        var started = Naming.NowNanos();
        await RuntimeFor(c.RuntimeHandler).StartAsync(c.Id);
        // The exit may already have been recorded if the process ended at once; keep that, add the start time.
        // File timestamps (conmon's exit file) use the kernel's coarse clock and can read a few ms early:
        // never report a finish before the start.
        _containers.Update(c.Id, r => r with
        {
            StartedAt = started,
            State = r.State == ContainerState.Created ? ContainerState.Running : r.State,
            FinishedAt = r.State == ContainerState.Exited ? Math.Max(r.FinishedAt, started) : r.FinishedAt,
        });
        _log.Information("container {ContainerId} started", c.Id);
    }

    /// <summary>Stop signal, then SIGKILL after <paramref name="timeoutSeconds"/>; idempotent.</summary>
    public async Task StopAsync(string id, long timeoutSeconds, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        using var _ = await _locks.AcquireAsync(c.Id, ct);
        await StopLockedAsync(c.Id, timeoutSeconds, ct);
    }

    async Task StopLockedAsync(string id, long timeoutSeconds, CancellationToken ct)
    {
        var c = _containers.Get(id);
        if (c == null || c.State is ContainerState.Exited or ContainerState.Unknown) return;
        var runtime = RuntimeFor(c.RuntimeHandler);
        if (c.State == ContainerState.Created)
        {
            // Never started: there is no process to signal; record it as exited.
            await runtime.DeleteAsync(id, force: true);
            _containers.Update(id, r => r with { State = ContainerState.Exited, FinishedAt = Naming.NowNanos(), ExitCode = 0, Reason = "Created" });
            ReleaseImageVolumes(c);
            return;
        }
        var exited = ExitWaiter(id);
        if (timeoutSeconds > 0)
        {
            await runtime.KillAsync(id, c.StopSignal, all: false);
            if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(timeoutSeconds), ct)) == exited) return;
        }
        await runtime.KillAsync(id, Signals.SIGKILL, all: true);
        if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(10), ct)) != exited)
        {
            // conmon should have written the exit file by now; read the runtime's view instead of waiting forever.
            var state = await runtime.StateAsync(id);
            if (state == null || state.Status == "stopped")
                _containers.Update(id, r => r.State == ContainerState.Running
                    ? r with { State = ContainerState.Exited, ExitCode = 137, FinishedAt = Naming.NowNanos(), Reason = "Error" } : r);
            else
                throw new WrongStateException($"container {id} did not stop within 10 s of SIGKILL");
        }
    }

    Task ExitWaiter(string id)
    {
        var tcs = _exitWaiters.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        // The exit may have been recorded between our read and the registration.
        if (_containers.Get(id) is { State: ContainerState.Exited }) tcs.TrySetResult();
        return tcs.Task;
    }

    void OnExited(string id, int exitCode, DateTimeOffset finishedAt)
    {
        var c = _containers.Get(id);
        if (c == null) return;
        var oom = exitCode != 0 && OomDetector.WasOomKilled(_cgroups, c.CgroupPath);
        _containers.Update(id, r => r.State == ContainerState.Exited ? r : r with
        {
            State = ContainerState.Exited,
            ExitCode = exitCode,
            FinishedAt = Math.Max((finishedAt - DateTimeOffset.UnixEpoch).Ticks * 100, r.StartedAt),
            Reason = oom ? "OOMKilled" : exitCode == 0 ? "Completed" : "Error",
        });
        // Before the waiters go on: a StopContainer that returns has its image volumes unmounted.
        ReleaseImageVolumes(c);
        if (_exitWaiters.TryRemove(id, out var tcs)) tcs.TrySetResult();
        _log.Information("container {ContainerId} exited with code {ExitCode}{Oom}", id, exitCode, oom ? " (OOM killed)" : "");
    }

    /// <summary>Stops (SIGKILL) and removes every trace of the container. Idempotent.</summary>
    public async Task RemoveAsync(string id, CancellationToken ct)
    {
        var c = _containers.Find(id);
        if (c == null) return;
        using (await _locks.AcquireAsync(c.Id, ct))
        {
            c = _containers.Get(c.Id);
            if (c == null) return;
            // Durable first: a daemon killed in the middle finishes the removal at its next start.
            if (!c.Removing) c = _containers.Update(c.Id, r => r with { Removing = true }) ?? c;
            await StopLockedAsync(c.Id, 0, ct);
            await RuntimeFor(c.RuntimeHandler).DeleteAsync(c.Id, force: true);
            Mounts.Unmount(c.RootfsPath, detach: true);
            // Idmapped clones left by a create cut short (kill -9 between the clone and the runtime's create).
            Mounts.UnmountAllUnder(c.BundleDir);
            _cgroups.Remove(c.CgroupPath);
            DeleteDir(c.BundleDir);
            DeleteDir(c.LayerDir);
            DeleteAttachEntry(c.Id);
            _exits.Forget(c.Id);
            _containers.Remove(c.Id);
            var sandbox = _sandboxes.Get(c.SandboxId);
            if (sandbox != null)
                _names.Release(Naming.ContainerName(c.Spec.Name, sandbox.Spec.Name, sandbox.Spec.Namespace, sandbox.Spec.Uid, c.Spec.Attempt), c.Id);
        }
        _locks.Forget(c.Id);
        _log.Information("container {ContainerId} removed", c.Id);
    }

    /// <summary>For StopPodSandbox (stop with timeout 0) and RemovePodSandbox (remove).</summary>
    public async Task StopOrRemoveInPodAsync(string sandboxId, bool remove, CancellationToken ct)
    {
        if (_creating.TryGetValue(sandboxId, out var creating) && !creating.IsEmpty)
        {
            // Their failures are their callers' to see; here only their end matters.
            try { await Task.WhenAll(creating.Keys).WaitAsync(ct); }
            catch (Exception e) when (e is not OperationCanceledException) { }
        }
        if (remove) _creating.TryRemove(sandboxId, out _);
        var inPod = _containers.All().Where(c => c.SandboxId == sandboxId).ToList();
        await Task.WhenAll(inPod.Select(c => remove ? RemoveAsync(c.Id, ct) : StopAsync(c.Id, 0, ct)));
    }

    /// <summary>Applies new resources to the running container's cgroup and records them for ContainerStatus.</summary>
    public async Task UpdateResourcesAsync(string id, ResourceSpec resources, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        using var _ = await _locks.AcquireAsync(c.Id, ct);
        c = _containers.Get(c.Id)!;
        if (c.State is not (ContainerState.Created or ContainerState.Running))
            throw new WrongStateException($"container {c.Id} is {c.State.ToString().ToLowerInvariant()}; only created or running containers can be updated");
        var oci = OciSpecGenerator.Resources(ClampOomScoreAdj(resources), HostFeatures.Current);
        oci.Devices = null; // device rules are fixed at create time
        var path = Path.Combine(c.BundleDir, "resources-update.json");
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(oci, OciJsonContext.Default.OciResources));
        await RuntimeFor(c.RuntimeHandler).UpdateAsync(c.Id, path);
        _containers.Update(c.Id, r => r with { Spec = r.Spec with { Resources = resources } });
    }

    /// <summary>
    /// Without CAP_SYS_RESOURCE an oom_score_adj below our own cannot be set (runc would fail the create),
    /// so it is raised to ours, as containerd's restrict_oom_score_adj does.
    /// </summary>
    ResourceSpec ClampOomScoreAdj(ResourceSpec r) =>
        OomScore.Restricted && r.OomScoreAdj < OomScore.Own ? r with { OomScoreAdj = OomScore.Own } : r;

    public async Task ReopenLogAsync(string id, CancellationToken ct)
    {
        var c = _containers.Find(id) ?? throw new ObjectNotFoundException($"container {id} not found");
        if (c.State != ContainerState.Running)
            throw new WrongStateException($"container {c.Id} is not running, so its log cannot be reopened");
        await _monitor.ReopenLogAsync(c.BundleDir, c.LogPath, ct);
    }

    /// <summary>
    /// After a restart: containers still running under their conmon stay Running; those that exited
    /// meanwhile get their real exit code from conmon's exit file; leftovers of half-made containers go.
    /// </summary>
    public async Task RecoverAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(ContainersStateDir);
        Directory.CreateDirectory(ContainersLayerDir);
        foreach (var c in _containers.All())
        {
            var sandbox = _sandboxes.Get(c.SandboxId);
            if (sandbox != null)
                _names.Claim(Naming.ContainerName(c.Spec.Name, sandbox.Spec.Name, sandbox.Spec.Namespace, sandbox.Spec.Uid, c.Spec.Attempt), c.Id);
            if (c.State is ContainerState.Exited or ContainerState.Unknown)
            {
                // A daemon killed between the exit and the unmount.
                ReleaseImageVolumes(c);
                continue;
            }
            var exit = _exits.ReadExitFile(c.Id);
            if (exit is { } e)
            {
                // A record that cannot be written now (full disk) is the exit watcher's to retry: it has this file too.
                try { OnExited(c.Id, e.ExitCode, e.FinishedAt); }
                catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
                {
                    _log.Warning("container {ContainerId} exited with {ExitCode} but its record cannot be written yet: {Error}", c.Id, e.ExitCode, failed.Message);
                }
                continue;
            }
            OciState? state;
            try
            {
                state = await RuntimeFor(c.RuntimeHandler).StateAsync(c.Id);
            }
            catch (HandlerUnavailableException unavailable)
            {
                // Never a failed start and never a guess: the container keeps its last known state until the handler is back.
                _log.Warning("container {ContainerId} keeps its last known state {State}: {Error}", c.Id, c.State, unavailable.Message);
                continue;
            }
            if (state is { Status: "running" or "created" or "paused" }) continue;
            _log.Warning("container {ContainerId} is gone without an exit file (reboot?); marking it exited", c.Id);
            ReleaseImageVolumes(c);
            try { _containers.Update(c.Id, r => r with { State = ContainerState.Exited, ExitCode = 255, Reason = "Unknown", FinishedAt = Naming.NowNanos() }); }
            catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
            {
                _log.Error("container {ContainerId} keeps its last known state {State}: its record cannot be written: {Error}", c.Id, c.State, failed.Message);
            }
        }
        var quarantined = _containers.QuarantinedIds();
        foreach (var dir in Directory.EnumerateDirectories(ContainersStateDir))
        {
            var id = Path.GetFileName(dir);
            if (_containers.Get(id) != null) continue;
            if (quarantined.Contains(id))
            {
                // Never a guess about what a record we cannot read described: its process, bundle, mounts and cgroup stay.
                _log.Error("container {ContainerId}: its record is in quarantine; its process, bundle, rootfs and cgroup stay as they are", id);
                continue;
            }
            _log.Warning("removing leftovers of container {ContainerId} from an interrupted create", id);
            var deleted = true;
            foreach (var handler in _config.Current.Runtimes.Keys)
            {
                try { await RuntimeFor(handler).DeleteAsync(id, force: true); }
                catch (HandlerUnavailableException e) { _log.Warning("leftover container {ContainerId}: not deleted from {Handler}: {Error}", id, handler, e.Message); }
                catch (ExternalProgramException e)
                {
                    // The daemon still starts; what the runtime would not delete stays, with its bundle, for the next start.
                    _log.Error("leftover container {ContainerId}: {Handler} could not delete it, its bundle stays: {Error}", id, handler, e.Message);
                    deleted = false;
                }
            }
            if (!deleted) continue;
            try
            {
                Mounts.UnmountAllUnder(dir);
                DeleteDir(dir);
                DeleteAttachEntry(id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
            {
                _log.Error("leftover container {ContainerId}: could not remove {Dir}: {Error}", id, dir, e.Message);
            }
        }
        foreach (var dir in Directory.EnumerateDirectories(ContainersLayerDir))
            if (_containers.Get(Path.GetFileName(dir)) == null && !quarantined.Contains(Path.GetFileName(dir))) DeleteDir(dir);
        SweepOrphanExitFilesLater();
    }

    /// <summary>After recovery: removals the daemon was killed in the middle of are finished (a failure stays for kubelet's retry).</summary>
    public async Task FinishInterruptedRemovesAsync()
    {
        foreach (var c in _containers.All().Where(c => c.Removing))
        {
            try
            {
                await RemoveAsync(c.Id, CancellationToken.None);
                _log.Information("finished the interrupted removal of container {ContainerId}", c.Id);
            }
            catch (Exception e)
            {
                _log.Error("the interrupted removal of container {ContainerId} could not be finished; it stays listed for a retry: {Error}", c.Id, e.Message);
            }
        }
    }

    /// <summary>conmon links &lt;attach dir&gt;/&lt;id&gt; to the bundle to keep the socket path short; it goes with the container.</summary>
    void DeleteAttachEntry(string id)
    {
        var entry = Path.Combine(_monitor.AttachDir, id);
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
