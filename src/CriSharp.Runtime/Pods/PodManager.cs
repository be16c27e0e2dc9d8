using CriSharp.Configuration;
using CriSharp.Linux;
using CriSharp.Runtime.Cgroups;
using CriSharp.Runtime.Containers;
using CriSharp.State;
using Serilog;

namespace CriSharp.Runtime.Pods;

/// <summary>
/// Pod sandboxes: pinned network/IPC/UTS namespaces, pod files, /dev/shm, the pod cgroup and the
/// network hook. Every step is undone if a later one fails, so a failed RunPodSandbox leaves nothing.
/// </summary>
public sealed class PodManager(
    LiveConfig config,
    RecordIndex<PodSandbox> sandboxes,
    NamespacePinner pinner,
    ICgroupManager cgroups,
    IPodNetwork network,
    InfraProcess infra,
    Oci.HandlerFeatureProbe handlerFeatures,
    IPodContainers containers,
    ILogger log)
{
    const long ShmBytes = 64L * 1024 * 1024;
    readonly NameRegistry _names = new();
    readonly KeyedLock _locks = new();

    public string PodsDir => Path.Combine(config.Current.StateDir, "pods");

    public void ClaimName(PodSandbox pod) =>
        _names.Claim(Naming.SandboxName(pod.Spec.Name, pod.Spec.Namespace, pod.Spec.Uid, pod.Spec.Attempt), pod.Id);

    public async Task<PodSandbox> RunAsync(SandboxSpec spec, CancellationToken ct)
    {
        Validate(spec);
        var handler = ResolveHandler(spec.RuntimeHandler);
        if (spec.Security.Namespaces.User is { IsPod: true })
        {
            var features = (await handlerFeatures.ResultsAsync().WaitAsync(ct)).GetValueOrDefault(handler);
            if (features is not { UserNamespaces: true })
                throw new WrongStateException($"runtime handler '{handler}' cannot run pods with a user namespace on this host: " +
                    (features?.UserNamespacesMissing is { Length: > 0 } why ? why : "not probed"));
        }
        var name = Naming.SandboxName(spec.Name, spec.Namespace, spec.Uid, spec.Attempt);
        // The create is the pod's, not this caller's: a caller that gives up must not undo it under a retry that
        // joined it (every step is bounded by its own timeout; the undo path still runs on failure).
        var (id, outcome) = await _names.CreateAsync(name, () => CreateAsync(spec, handler, CancellationToken.None), ct);
        if (outcome == CreateOutcome.AlreadyExists)
            throw new NameInUseException($"pod sandbox name \"{name}\" is already used by {id}");
        return sandboxes.Get(id) ?? throw new ObjectNotFoundException($"pod sandbox {id} vanished while it was being created");
    }

    static void Validate(SandboxSpec spec)
    {
        Required(spec.Name, "config.metadata.name");
        Required(spec.Uid, "config.metadata.uid");
        Required(spec.Namespace, "config.metadata.namespace");
        if (spec.LogDirectory.Length > 0 && !Path.IsPathRooted(spec.LogDirectory))
            throw new InvalidRequestException("config.log_directory", $"must be an absolute path, got '{spec.LogDirectory}'");
        if (spec.Hostname.Any(c => c is '/' or '\0' || char.IsWhiteSpace(c)))
            throw new InvalidRequestException("config.hostname", $"'{spec.Hostname}' is not a valid hostname");
        if (spec.Hostname.Length > 64) // the kernel's limit (HOST_NAME_MAX)
            throw new InvalidRequestException("config.hostname", $"'{spec.Hostname}' is longer than 64 characters");
        var ns = spec.Security.Namespaces;
        UserNamespaceValidator.ValidatePod(ns);
        try
        {
            SysctlValidator.Validate(spec.Sysctls, hostNetwork: ns.Network == NamespaceMode.Node, hostIpc: ns.Ipc == NamespaceMode.Node);
        }
        catch (SysctlException e)
        {
            throw new InvalidRequestException($"config.linux.sysctls[{e.Key}]", e.Message);
        }

        static void Required(string value, string field)
        {
            if (string.IsNullOrWhiteSpace(value))
                throw new InvalidRequestException(field, "is required");
            if (value.Contains('/') || value.Contains('\0') || value == "..")
                throw new InvalidRequestException(field, $"'{value}' must not contain '/' or NUL");
        }
    }

    string ResolveHandler(string requested)
    {
        var c = config.Current;
        var name = requested.Length == 0 ? c.DefaultRuntime : requested;
        if (!c.Runtimes.ContainsKey(name))
            throw new InvalidRequestException("runtime_handler", $"unknown runtime handler '{name}' (configured: {string.Join(", ", c.Runtimes.Keys)})");
        return name;
    }

    async Task<string> CreateAsync(SandboxSpec spec, string handler, CancellationToken ct)
    {
        var id = Naming.NewId();
        var dir = Path.Combine(PodsDir, id);
        var ns = spec.Security.Namespaces;
        bool hostNet = ns.Network == NamespaceMode.Node, hostIpc = ns.Ipc == NamespaceMode.Node;
        var undo = new Stack<Action>();
        try
        {
            Directory.CreateDirectory(dir);
            undo.Push(() => Directory.Delete(dir, recursive: true));

            var pinned = new PinnedNamespaces(null, null, null);
            if (!hostNet || !hostIpc)
            {
                pinned = await pinner.PinAsync(Path.Combine(dir, "ns"), net: !hostNet, ipc: !hostIpc, uts: !hostNet,
                    PodFiles.HostnameOf(spec, hostNet), spec.Sysctls, ct, ns.User);
                undo.Push(() => pinner.Release(Path.Combine(dir, "ns")));
            }

            var shm = "";
            if (!hostIpc)
            {
                shm = Path.Combine(dir, "shm");
                Directory.CreateDirectory(shm);
                // In a user namespace the tmpfs root belongs to the pod's root, as a private one would.
                Mounts.MountTmpfs(shm, ShmBytes, "1777", MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec,
                    ns.User is { IsPod: true } u ? $"uid={u.HostRoot.Uid},gid={u.HostRoot.Gid}" : null);
                undo.Push(() => Mounts.Unmount(shm, detach: true));
            }

            // The kubelet's cgroup_parent is the kubelet's: made if missing, never removed. Only the cgroups CriSharp
            // makes for itself (the pod's own without a parent, the infra's) are noted before they exist, so a crash
            // before the record is written can still remove them, and removed with the pod.
            var cgroup = cgroups.PodCgroupPath(spec.CgroupParent, id);
            var ownsCgroup = string.IsNullOrWhiteSpace(spec.CgroupParent);
            if (ownsCgroup) NoteCgroup(dir, cgroup);
            cgroups.Create(cgroup, spec.Resources);
            if (ownsCgroup) undo.Push(() => cgroups.Remove(cgroup));

            var pod = new PodSandbox
            {
                Id = id,
                Spec = spec,
                RuntimeHandler = handler,
                Dir = dir,
                CreatedAt = Naming.NowNanos(),
                NetNsPath = pinned.NetPath ?? "",
                IpcNsPath = pinned.IpcPath ?? "",
                UtsNsPath = pinned.UtsPath ?? "",
                UserNsPath = pinned.UserPath ?? "",
                ShmPath = shm,
                CgroupPath = cgroup,
            };
            PodFiles.Write(pod, hostNet);

            if (!hostNet)
            {
                var ips = await network.SetUpAsync(pod, ct);
                undo.Push(() => network.TearDownAsync(pod, CancellationToken.None).GetAwaiter().GetResult());
                pod = pod with { Ips = [.. ips] };
                PodFiles.UpdateHosts(pod, hostNet);
            }

            if (ns.Pid == NamespaceMode.Pod)
            {
                // One per sandbox: two sandboxes of one pod (a restart) share the kubelet's cgroup_parent.
                var infraCgroup = cgroups.ContainerCgroupPath(cgroup, "infra-" + id);
                NoteCgroup(dir, infraCgroup);
                undo.Push(() => cgroups.Remove(infraCgroup));
                var (infraId, infraPid) = await infra.StartAsync(pod, infraCgroup, ct);
                pod = pod with { InfraContainerId = infraId, InfraPid = infraPid, InfraCgroupPath = infraCgroup };
                var started = pod;
                undo.Push(() => infra.StopAsync(started).GetAwaiter().GetResult());
            }

            sandboxes.Put(pod);
            log.Information("pod sandbox {PodId} ({Namespace}/{Name}) ready, handler {Handler}, IPs {Ips}", id, spec.Namespace, spec.Name, handler, pod.Ips);
            return id;
        }
        catch
        {
            while (undo.TryPop(out var step))
            {
                try { step(); }
                catch (Exception e) { log.Warning("cleaning up failed pod sandbox {PodId}: {Error}", id, e.Message); }
            }
            throw;
        }
    }

    /// <summary>Stops the pod's containers, tears down its network and releases its namespaces. Idempotent.</summary>
    public async Task StopAsync(string id, CancellationToken ct)
    {
        var pod = sandboxes.Find(id);
        if (pod == null) return; // kubelet retries stop for pods we no longer know
        using var _ = await _locks.AcquireAsync(pod.Id, ct);
        pod = sandboxes.Get(pod.Id);
        if (pod == null) return;
        // NotReady before the containers go, so no create can start in the pod meanwhile.
        if (pod.State != SandboxState.NotReady)
            pod = sandboxes.Update(pod.Id, p => p with { State = SandboxState.NotReady }) ?? pod;
        await containers.StopOrRemoveInPodAsync(pod.Id, false, ct);
        var hostNet = pod.Spec.Security.Namespaces.Network == NamespaceMode.Node;
        if (!hostNet)
        {
            try
            {
                await network.TearDownAsync(pod, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The pod still stops; RemovePodSandbox tries the teardown again.
                log.Warning("network teardown of pod {PodId} failed, will retry on remove: {Error}", pod.Id, e.Message);
            }
        }
        await infra.StopAsync(pod);
        ReleaseKernelObjects(pod);
    }

    /// <summary>Removes containers and every trace of the pod. Idempotent.</summary>
    public async Task RemoveAsync(string id, CancellationToken ct)
    {
        var pod = sandboxes.Find(id);
        if (pod == null) return;
        using (await _locks.AcquireAsync(pod.Id, ct))
        {
            pod = sandboxes.Get(pod.Id);
            if (pod == null) return;
            // Durable first (and NotReady, so no create starts in the pod meanwhile): a daemon killed in the middle
            // finishes the removal at its next start.
            if (!pod.Removing)
                pod = sandboxes.Update(pod.Id, p => p with { State = SandboxState.NotReady, Removing = true }) ?? pod;
            await containers.StopOrRemoveInPodAsync(pod.Id, true, ct);
            if (pod.Spec.Security.Namespaces.Network != NamespaceMode.Node)
                await network.TearDownAsync(pod, ct);
            await infra.StopAsync(pod);
            ReleaseKernelObjects(pod);
            if (pod.InfraContainerId.Length > 0)
                cgroups.Remove(pod.InfraCgroupPath.Length > 0 ? pod.InfraCgroupPath : cgroups.ContainerCgroupPath(pod.CgroupPath, "infra"));
            // Only a pod cgroup CriSharp made goes: the kubelet's parent may already hold a newer sandbox of the pod.
            if (pod.OwnsPodCgroup) cgroups.Remove(pod.CgroupPath);
            if (Directory.Exists(pod.Dir)) Directory.Delete(pod.Dir, recursive: true);
            sandboxes.Remove(pod.Id);
            _names.Release(Naming.SandboxName(pod.Spec.Name, pod.Spec.Namespace, pod.Spec.Uid, pod.Spec.Attempt), pod.Id);
        }
        _locks.Forget(pod.Id);
        log.Information("pod sandbox {PodId} removed", pod.Id);
    }

    void ReleaseKernelObjects(PodSandbox pod)
    {
        if (pod.ShmPath.Length > 0) Mounts.Unmount(pod.ShmPath, detach: true);
        pinner.Release(Path.Combine(pod.Dir, "ns"));
    }

    /// <summary>
    /// After a restart: pods whose pinned namespaces vanished (a reboot) are NotReady; pod dirs without
    /// a record (a crash mid-create) are cleaned up.
    /// </summary>
    public async Task RecoverAsync()
    {
        Directory.CreateDirectory(PodsDir);
        foreach (var pod in sandboxes.All())
        {
            ClaimName(pod);
            var lost = pod.State == SandboxState.Ready && pod.NetNsPath.Length > 0 && !Mounts.IsMountPoint(pod.NetNsPath);
            if (lost)
            {
                log.Warning("pod sandbox {PodId} lost its network namespace (reboot?); marking it NotReady", pod.Id);
                sandboxes.Update(pod.Id, p => p with { State = SandboxState.NotReady });
            }
        }
        var quarantined = sandboxes.QuarantinedIds();
        foreach (var dir in Directory.EnumerateDirectories(PodsDir))
        {
            var id = Path.GetFileName(dir);
            if (sandboxes.Get(id) != null) continue;
            if (quarantined.Contains(id))
            {
                log.Error("pod sandbox {PodId}: its record is in quarantine; its dir, namespaces, cgroup, infra and network stay as they are", id);
                continue;
            }
            log.Warning("removing leftovers of pod sandbox {PodId} from an interrupted create", id);
            if (!await DeleteLeftoverInfraAsync(dir, id)) continue;
            try
            {
                RemoveLeftover(dir, id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
            {
                log.Error("leftover pod sandbox {PodId}: could not remove {Dir}: {Error}", id, dir, e.Message);
            }
        }
    }

    /// <summary>After recovery: pod removals the daemon was killed in the middle of are finished (a failure stays for kubelet's retry).</summary>
    public async Task FinishInterruptedRemovesAsync()
    {
        foreach (var pod in sandboxes.All().Where(p => p.Removing))
        {
            try
            {
                await RemoveAsync(pod.Id, CancellationToken.None);
                log.Information("finished the interrupted removal of pod sandbox {PodId}", pod.Id);
            }
            catch (Exception e)
            {
                log.Error("the interrupted removal of pod sandbox {PodId} could not be finished; it stays listed for a retry: {Error}", pod.Id, e.Message);
            }
        }
    }

    /// <summary>
    /// An infra process started before the crash would keep the orphaned namespaces alive: deleted first. False when a
    /// runtime would not delete it: then the pod's dir stays as it is for the next start (the daemon still comes up).
    /// </summary>
    async Task<bool> DeleteLeftoverInfraAsync(string dir, string id)
    {
        if (!Directory.Exists(Path.Combine(dir, "infra"))) return true;
        foreach (var (name, handler) in config.Current.Runtimes)
        {
            try { await new Oci.OciRuntime(name, handler.Path, handler.RootDir).DeleteAsync("infra-" + id, force: true); }
            catch (HandlerUnavailableException e) { log.Warning("leftover infra of pod sandbox {PodId}: {Error}", id, e.Message); }
            catch (ExternalProgramException e)
            {
                log.Error("leftover infra of pod sandbox {PodId} could not be deleted; its dir stays: {Error}", id, e.Message);
                return false;
            }
        }
        return true;
    }

    void RemoveLeftover(string dir, string id)
    {
        Mounts.UnmountAllUnder(dir);
        var note = Path.Combine(dir, CgroupNoteFile);
        var own = cgroups.PodCgroupPath("", id);
        foreach (var path in File.Exists(note) ? File.ReadAllLines(note).Select(l => l.Trim()).Where(l => l.Length > 0) : [])
        {
            // Notes of older versions named the kubelet's cgroup_parent itself: only cgroups CriSharp makes are removed.
            if (path != own && !Path.GetFileName(path).StartsWith("crisharp-", StringComparison.Ordinal))
            {
                log.Information("interrupted pod sandbox {PodId}: leaving cgroup {Cgroup}, which CriSharp did not make", id, path);
                continue;
            }
            try { cgroups.Remove(path); }
            catch (Exception e) when (e is CgroupException or IOException or ArgumentException)
            {
                log.Warning("could not remove cgroup {Cgroup} of interrupted pod sandbox {PodId}: {Error}", path, id, e.Message);
            }
        }
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>Adds a cgroup CriSharp is about to make for the pod to the note read by <see cref="RemoveLeftover"/> (durable first).</summary>
    static void NoteCgroup(string dir, string cgroup)
    {
        var note = Path.Combine(dir, CgroupNoteFile);
        var lines = File.Exists(note) ? File.ReadAllText(note) : "";
        AtomicFile.Write(note, System.Text.Encoding.UTF8.GetBytes(lines + cgroup + "\n"));
    }

    const string CgroupNoteFile = "cgroup-path";
}
