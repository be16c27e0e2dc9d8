using CriSharp.Linux;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Model;
using CriSharp.State;

namespace CriSharp.Runtime.Pods;

/// <summary>RunPodSandbox: validation, then namespaces, /dev/shm, cgroup, pod files, network and infra, undone in reverse on failure.</summary>
public sealed partial class PodManager
{
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
        var hostNet = spec.Security.Namespaces.Network == NamespaceMode.Node;
        var undo = new Stack<Action>();
        try
        {
            Directory.CreateDirectory(dir);
            undo.Push(() => Directory.Delete(dir, recursive: true));
            var (pinned, shm) = await MakeNamespacesAsync(spec, dir, undo, ct);
            var cgroup = MakeCgroup(spec, id, dir, undo);
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
            pod = await StartNetworkAndInfraAsync(pod, undo, ct);
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

    /// <summary>The pinned network, IPC and UTS (and user) namespaces the pod does not share with the node, and its /dev/shm tmpfs.</summary>
    async Task<(PinnedNamespaces Pinned, string Shm)> MakeNamespacesAsync(SandboxSpec spec, string dir, Stack<Action> undo, CancellationToken ct)
    {
        var ns = spec.Security.Namespaces;
        bool hostNet = ns.Network == NamespaceMode.Node, hostIpc = ns.Ipc == NamespaceMode.Node;
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

        return (pinned, shm);
    }

    /// <summary>The pod's cgroup: the kubelet's cgroup_parent, or its own.</summary>
    string MakeCgroup(SandboxSpec spec, string id, string dir, Stack<Action> undo)
    {
        // The kubelet's cgroup_parent is the kubelet's: made if missing, never removed. Only the cgroups CriSharp
        // makes for itself (the pod's own without a parent, the infra's) are noted before they exist, so a crash
        // before the record is written can still remove them, and removed with the pod.
        var cgroup = cgroups.PodCgroupPath(spec.CgroupParent, id);
        var ownsCgroup = string.IsNullOrWhiteSpace(spec.CgroupParent);
        if (ownsCgroup) NoteCgroup(dir, cgroup);
        cgroups.Create(cgroup, spec.Resources);
        if (ownsCgroup) undo.Push(() => cgroups.Remove(cgroup));
        return cgroup;
    }

    /// <summary>CNI ADD into the pinned netns (not for host network) and the infra process for a shared PID namespace.</summary>
    async Task<PodSandbox> StartNetworkAndInfraAsync(PodSandbox pod, Stack<Action> undo, CancellationToken ct)
    {
        var ns = pod.Spec.Security.Namespaces;
        var hostNet = ns.Network == NamespaceMode.Node;
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
            var infraCgroup = cgroups.ContainerCgroupPath(pod.CgroupPath, "infra-" + pod.Id);
            NoteCgroup(pod.Dir, infraCgroup);
            undo.Push(() => cgroups.Remove(infraCgroup));
            var (infraId, infraPid) = await infra.StartAsync(pod, infraCgroup, ct);
            pod = pod with { InfraContainerId = infraId, InfraPid = infraPid, InfraCgroupPath = infraCgroup };
            var started = pod;
            undo.Push(() => infra.StopAsync(started).GetAwaiter().GetResult());
        }
        return pod;
    }

    /// <summary>Adds a cgroup CriSharp is about to make for the pod to the note read by <see cref="RemoveLeftover"/> (durable first).</summary>
    static void NoteCgroup(string dir, string cgroup)
    {
        var note = Path.Combine(dir, CgroupNoteFile);
        var lines = File.Exists(note) ? File.ReadAllText(note) : "";
        AtomicFile.Write(note, System.Text.Encoding.UTF8.GetBytes(lines + cgroup + "\n"));
    }
}
