using System.Globalization;
using CriSharp.Images;
using CriSharp.Linux;
using CriSharp.Runtime.Containers;
using CriSharp.Runtime.Pods;

namespace CriSharp.Runtime.Oci;

/// <summary>A CRI request asks for something the spec cannot express; <see cref="Field"/> names the offending request field.</summary>
public sealed class SpecException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>What the generator needs to know about the host; <see cref="Current"/> probes it once.</summary>
/// <param name="OpenFilesHardLimit">This process's RLIMIT_NOFILE hard limit: without CAP_SYS_RESOURCE the runtime cannot grant more.</param>
/// <param name="BoundingCapabilities">This process's capability bounding set (CapBnd): a runtime cannot grant a capability
/// outside it (capset fails with EPERM), so "every capability" means every one in it. Null: no restriction.</param>
public sealed record HostFeatures(bool CgroupV2, bool HugetlbController, bool AppArmorEnabled, int LastCapability,
    ulong OpenFilesHardLimit = OciSpecGenerator.DefaultNofile, ulong? BoundingCapabilities = null)
{
    static readonly Lazy<HostFeatures> Detected = new(Detect);

    /// <summary>This host, probed on first use.</summary>
    public static HostFeatures Current => Detected.Value;

    static HostFeatures Detect()
    {
        // A unified (v2-only) host has cgroup.controllers at the root; hybrid hosts keep it under /sys/fs/cgroup/unified.
        var v2 = File.Exists("/sys/fs/cgroup/cgroup.controllers");
        var hugetlb = v2
            ? ReadOrEmpty("/sys/fs/cgroup/cgroup.controllers").Split(' ', StringSplitOptions.TrimEntries).Contains("hugetlb")
            : Directory.Exists("/sys/fs/cgroup/hugetlb");
        var apparmor = ReadOrEmpty("/sys/module/apparmor/parameters/enabled").StartsWith('Y');
        var lastCap = int.TryParse(ReadOrEmpty("/proc/sys/kernel/cap_last_cap"), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n : OciSpecGenerator.AllCapabilities.Count - 1;
        return new HostFeatures(v2, hugetlb, apparmor, lastCap, ReadOpenFilesHardLimit(), ReadBoundingCapabilities());
    }

    /// <summary>CapBnd of /proc/self/status (hex); null if unreadable.</summary>
    static ulong? ReadBoundingCapabilities()
    {
        var line = ReadOrEmpty("/proc/self/status").Split('\n').FirstOrDefault(l => l.StartsWith("CapBnd:", StringComparison.Ordinal));
        return line != null && ulong.TryParse(line["CapBnd:".Length..].Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var mask)
            ? mask : null;
    }

    /// <summary>The hard "Max open files" of /proc/self/limits ("unlimited" or unreadable counts as no limit).</summary>
    static ulong ReadOpenFilesHardLimit()
    {
        var line = ReadOrEmpty("/proc/self/limits").Split('\n').FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields is { Length: >= 2 } && ulong.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var hard)
            ? hard : ulong.MaxValue;
    }

    static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }
}

/// <summary>Everything one container's config.json is made from.</summary>
/// <param name="PidNamespacePath">The infra or target container's /proc/&lt;pid&gt;/ns/pid when the PID mode is Pod or Target, else null.</param>
public sealed record SpecInput(ContainerSpec Container, PodSandbox Sandbox, ImageConfig Image, string RootfsPath,
    string CgroupsPath, string? PidNamespacePath, string ContainerId)
{
    /// <summary>Host facts; null means probe this host (<see cref="HostFeatures.Current"/>). Tests pin them.</summary>
    public HostFeatures? Host { get; init; }

    /// <summary>
    /// Per request mount (same index as <see cref="ContainerSpec.Mounts"/>): the idmapped clone the runtime binds
    /// instead of the host path, or null for a plain bind of the host path. Null list: no idmapped mounts.
    /// </summary>
    public IReadOnlyList<string?>? MountSources { get; init; }
}

/// <summary>
/// Turns a CRI container request (plus its sandbox and image) into an OCI runtime-spec config.json that
/// runc ≥ 1.1 and crun ≥ 1.8 accept. Pure apart from reading the image's /etc/passwd and /etc/group,
/// the seccomp profile file and stat-ing host paths.
/// </summary>
public static class OciSpecGenerator
{
    /// <summary>runc 1.1 reports 1.0.2-dev as the newest spec it knows; everything written here is in 1.0.2.</summary>
    public const string OciVersion = "1.0.2-dev";

    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// Open-file limit (soft and hard) for container processes: the kernel's default nr_open, which is what
    /// containerd and CRI-O containers usually end up with. Capped at the daemon's own hard limit, since a
    /// runtime without CAP_SYS_RESOURCE cannot raise it (setrlimit fails with EPERM).
    /// </summary>
    public const ulong DefaultNofile = 1048576;

    /// <summary>Every capability Linux defines, indexed by its number (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40).</summary>
    public static readonly IReadOnlyList<string> AllCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>The capabilities an unprivileged container starts with: Docker's and containerd's default 14.</summary>
    public static readonly IReadOnlyList<string> DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    /// <summary>Kernel interfaces hidden from unprivileged containers (bind-mounted over with /dev/null or an empty tmpfs).</summary>
    public static readonly IReadOnlyList<string> DefaultMaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi", "/sys/devices/virtual/powercap",
    ];

    /// <summary>Kernel interfaces made read-only for unprivileged containers.</summary>
    public static readonly IReadOnlyList<string> DefaultReadonlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>
    /// Device-cgroup rules after "deny all" for unprivileged containers: mknod of anything, and the devices every
    /// container gets (null, zero, full, random, urandom, tty, console, ptmx, pts, tun). runc appends the same
    /// set itself; writing them keeps crun and runc in agreement.
    /// </summary>
    static readonly (string Type, long? Major, long? Minor, string Access)[] DefaultDeviceRules =
    [
        ("c", null, null, "m"), ("b", null, null, "m"),
        ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"),
        ("c", 5, 0, "rwm"), ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, null, "rwm"), ("c", 10, 200, "rwm"),
    ];

    /// <summary>Builds the spec; throws <see cref="SpecException"/> for a request that cannot be honoured.</summary>
    public static OciSpec Generate(SpecInput input)
    {
        var container = input.Container;
        var security = container.Security;
        var host = input.Host ?? HostFeatures.Current;
        var image = input.Image.Config ?? new ImageRunConfig();
        var sandbox = input.Sandbox;

        if (security.Privileged && !sandbox.Spec.Security.Privileged)
            throw new SpecException("linux.security_context.privileged", "a privileged container needs a privileged sandbox");

        var user = ResolveUser(input.RootfsPath, security, image.User);
        var capabilities = Capabilities(security, user.Uid, host);
        var namespaces = Namespaces(input);
        var utsIsHost = !namespaces.Any(n => n.Type == "uts");
        var hostname = sandbox.Spec.Hostname.Length > 0 ? sandbox.Spec.Hostname : HostHostname();
        var nofile = Math.Min(DefaultNofile, host.OpenFilesHardLimit);

        var process = new OciProcess
        {
            Terminal = container.Tty,
            User = new OciUser { Uid = user.Uid, Gid = user.Gid, AdditionalGids = user.AdditionalGids },
            Args = Args(container, image),
            Env = Env(container, image, hostname),
            Cwd = WorkingDirectory(container, image),
            Capabilities = capabilities,
            Rlimits = [new OciRlimit { Type = "RLIMIT_NOFILE", Hard = nofile, Soft = nofile }],
            NoNewPrivileges = security.NoNewPrivs ? true : null,
            ApparmorProfile = ApparmorProfile(security, host),
            OomScoreAdj = OomScoreAdj(container.Resources.OomScoreAdj),
        };

        var (mounts, rootfsPropagation) = Mounts(input);
        var linux = new OciLinux
        {
            Namespaces = namespaces,
            CgroupsPath = input.CgroupsPath,
            Resources = Resources(container.Resources, host),
            RootfsPropagation = rootfsPropagation,
        };
        Devices(container, linux);
        var userns = UserNamespace(sandbox);
        if (userns is not null)
        {
            linux.UidMappings = [.. userns.Uids!.Select(m => new OciIdMapping { ContainerId = m.ContainerId, HostId = m.HostId, Size = m.Length })];
            linux.GidMappings = [.. userns.Gids!.Select(m => new OciIdMapping { ContainerId = m.ContainerId, HostId = m.HostId, Size = m.Length })];
        }
        if (!security.Privileged)
        {
            // kubelet's Unmasked procMount (KEP-4265) sends both lists empty; it is honoured only in a pod with its own
            // user namespace (kubelet's rule). Anywhere else an empty list is "not given", as containerd reads it.
            var unmasked = userns is not null && security.MaskedPaths is { Count: 0 } && security.ReadonlyPaths is { Count: 0 };
            linux.MaskedPaths = unmasked ? [] : [.. security.MaskedPaths is { Count: > 0 } masked ? masked : DefaultMaskedPaths];
            linux.ReadonlyPaths = unmasked ? [] : [.. security.ReadonlyPaths is { Count: > 0 } ro ? ro : DefaultReadonlyPaths];
        }
        linux.Seccomp = Seccomp(security, capabilities.Bounding ?? []);

        var annotations = new Dictionary<string, string>(container.Annotations)
        {
            ["io.kubernetes.cri.container-type"] = "container",
            ["io.kubernetes.cri.container-name"] = container.Name,
            ["io.kubernetes.cri.sandbox-id"] = sandbox.Id,
            ["io.kubernetes.cri.image-name"] = container.Image,
        };

        return new OciSpec
        {
            Process = process,
            Root = new OciRoot { Path = input.RootfsPath, Readonly = security.ReadonlyRootfs ? true : null },
            Hostname = utsIsHost ? null : hostname,
            Mounts = mounts,
            Annotations = annotations,
            Linux = linux,
        };
    }

    // ---- process ----------------------------------------------------------------------------------------------

    /// <summary>Kubernetes' rule: command replaces the entrypoint (and drops the image's Cmd); args replace Cmd.</summary>
    internal static List<string> Args(ContainerSpec container, ImageRunConfig image)
    {
        List<string> args = container.Command.Count > 0 ? [.. container.Command, .. container.Args]
            : container.Args.Count > 0 ? [.. image.Entrypoint ?? [], .. container.Args]
            : [.. image.Entrypoint ?? [], .. image.Cmd ?? []];
        if (args.Count == 0) throw new SpecException("command", "no command specified");
        return args;
    }

    /// <summary>HOSTNAME, then the image's variables, then the request's; a later value replaces an earlier one in place.</summary>
    internal static List<string> Env(ContainerSpec container, ImageRunConfig image, string hostname)
    {
        var env = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        void Set(string key, string entry)
        {
            if (index.TryGetValue(key, out var at)) env[at] = entry;
            else { index[key] = env.Count; env.Add(entry); }
        }

        Set("HOSTNAME", "HOSTNAME=" + hostname);
        foreach (var entry in image.Env ?? [])
        {
            var eq = entry.IndexOf('=');
            var key = eq < 0 ? entry : entry[..eq];
            if (key.Length > 0) Set(key, entry);
        }
        foreach (var (key, value) in container.Envs)
        {
            if (key.Length == 0 || key.Contains('=')) throw new SpecException("envs", $"invalid environment variable name \"{key}\"");
            Set(key, key + "=" + value);
        }
        if (!index.ContainsKey("PATH")) env.Insert(0, "PATH=" + DefaultPath);
        return env;
    }

    static string WorkingDirectory(ContainerSpec container, ImageRunConfig image)
    {
        if (container.WorkingDir.Length > 0)
            return container.WorkingDir.StartsWith('/') ? container.WorkingDir
                : throw new SpecException("working_dir", $"working directory \"{container.WorkingDir}\" is not absolute");
        // Docker treats a relative image WorkingDir as relative to /.
        if (!string.IsNullOrEmpty(image.WorkingDir))
            return image.WorkingDir.StartsWith('/') ? image.WorkingDir : "/" + image.WorkingDir;
        return "/";
    }

    static int? OomScoreAdj(long value) => value is >= -1000 and <= 1000
        ? (int)value
        : throw new SpecException("linux.resources.oom_score_adj", $"oom_score_adj {value} is outside -1000..1000");

    static string? ApparmorProfile(SecuritySpec security, HostFeatures host)
    {
        if (!host.AppArmorEnabled) return null;
        return security.Apparmor.Kind switch
        {
            // CriSharp ships no AppArmor profile of its own, so "runtime default" is the unconfined profile.
            ProfileKind.RuntimeDefault => "unconfined",
            ProfileKind.Localhost when security.Apparmor.LocalhostRef.Length > 0 =>
                security.Apparmor.LocalhostRef.StartsWith("localhost/", StringComparison.Ordinal)
                    ? security.Apparmor.LocalhostRef["localhost/".Length..] : security.Apparmor.LocalhostRef,
            ProfileKind.Localhost => throw new SpecException("linux.security_context.apparmor", "Localhost AppArmor profile without a name"),
            _ => null,
        };
    }

    static string HostHostname()
    {
        try { return File.ReadAllText("/proc/sys/kernel/hostname").Trim(); }
        catch (IOException) { return Environment.MachineName; }
    }

    // ---- user and groups ----------------------------------------------------------------------------------------

    internal sealed record ResolvedUser(uint Uid, uint Gid, List<uint> AdditionalGids);

    /// <summary>
    /// run_as_username, else run_as_user, else the image's User ("name", "uid", "uid:gid", "name:group"),
    /// resolved against the image's own /etc/passwd and /etc/group; run_as_group then replaces the gid.
    /// </summary>
    internal static ResolvedUser ResolveUser(string rootfs, SecuritySpec security, string? imageUser)
    {
        // kubelet's rule (and CRI-O's): a group without a user would run as the image's user with a foreign group.
        if (security.RunAsGroup is not null && security.RunAsUser is null && security.RunAsUsername.Length == 0)
            throw new SpecException("linux.security_context.run_as_group", "run_as_group is set without run_as_user or run_as_username");
        var db = new RootfsUserDatabase(rootfs);
        uint uid, gid;
        string? name;
        if (security.RunAsUsername.Length > 0)
        {
            var entry = db.UserByName(security.RunAsUsername)
                ?? throw new SpecException("linux.security_context.run_as_username", $"user \"{security.RunAsUsername}\" not found in the image's /etc/passwd");
            (uid, gid, name) = (entry.Uid, entry.Gid, entry.Name);
        }
        else if (security.RunAsUser is { } runAsUser)
        {
            uid = CheckId(runAsUser, "linux.security_context.run_as_user");
            var entry = db.UserById(uid);
            (gid, name) = (entry?.Gid ?? 0, entry?.Name);
        }
        else
        {
            const string field = "image.user";
            var spec = imageUser ?? "";
            var colon = spec.IndexOf(':');
            var userPart = colon < 0 ? spec : spec[..colon];
            var groupPart = colon < 0 ? null : spec[(colon + 1)..];
            if (userPart.Length == 0) userPart = "0";
            if (uint.TryParse(userPart, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
            {
                var entry = db.UserById(uid);
                (gid, name) = (entry?.Gid ?? 0, entry?.Name);
            }
            else
            {
                var entry = db.UserByName(userPart)
                    ?? throw new SpecException(field, $"image user \"{userPart}\" not found in the image's /etc/passwd");
                (uid, gid, name) = (entry.Uid, entry.Gid, entry.Name);
            }
            if (!string.IsNullOrEmpty(groupPart))
            {
                if (!uint.TryParse(groupPart, NumberStyles.None, CultureInfo.InvariantCulture, out gid))
                    gid = db.GroupByName(groupPart)?.Gid
                        ?? throw new SpecException(field, $"image group \"{groupPart}\" not found in the image's /etc/group");
            }
        }
        if (security.RunAsGroup is { } runAsGroup) gid = CheckId(runAsGroup, "linux.security_context.run_as_group");

        // The primary gid comes first, as containerd does, so `id -G` shows it too.
        var groups = new List<uint> { gid };
        if (security.SupplementalGroupsPolicy == SupplementalGroupsPolicy.Merge && name is not null)
            groups.AddRange(db.GroupsWithMember(name));
        groups.AddRange(security.SupplementalGroups.Select(g => CheckId(g, "linux.security_context.supplemental_groups")));
        return new ResolvedUser(uid, gid, groups.Distinct().ToList());
    }

    static uint CheckId(long id, string field) => id is >= 0 and < uint.MaxValue
        ? (uint)id : throw new SpecException(field, $"id {id} is out of range");

    /// <summary>The image's /etc/passwd and /etc/group, read without letting a symlink lead outside the rootfs.</summary>
    sealed class RootfsUserDatabase(string rootfs)
    {
        public sealed record User(string Name, uint Uid, uint Gid);
        public sealed record Group(string Name, uint Gid, string[] Members);

        List<User>? users;
        List<Group>? groups;

        public User? UserByName(string name) => Users().FirstOrDefault(u => u.Name == name);
        public User? UserById(uint uid) => Users().FirstOrDefault(u => u.Uid == uid);
        public Group? GroupByName(string name) => Groups().FirstOrDefault(g => g.Name == name);
        public IEnumerable<uint> GroupsWithMember(string user) => Groups().Where(g => g.Members.Contains(user)).Select(g => g.Gid);

        List<User> Users() => users ??= [.. ReadLines("etc/passwd").Select(f => f.Length >= 4 && TryId(f[2], out var u) && TryId(f[3], out var g)
            ? new User(f[0], u, g) : null).OfType<User>()];

        List<Group> Groups() => groups ??= [.. ReadLines("etc/group").Select(f => f.Length >= 3 && TryId(f[2], out var g)
            ? new Group(f[0], g, f.Length > 3 ? f[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [])
            : null).OfType<Group>()];

        static bool TryId(string text, out uint id) => uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id);

        /// <summary>The colon-separated fields of each entry; a missing file has none.</summary>
        IEnumerable<string[]> ReadLines(string relative)
        {
            var path = ResolveInRoot(rootfs, relative);
            if (FileSystem.GetKind(path) != FileKind.Regular) return [];
            return File.ReadAllLines(path)
                .Where(l => l.Length > 0 && !l.StartsWith('#'))
                .Select(l => l.Split(':'));
        }
    }

    /// <summary>
    /// <paramref name="path"/> inside <paramref name="root"/> with every symlink resolved as if <paramref name="root"/>
    /// were "/": absolute targets restart at the root and ".." stops there, so the result never leaves it.
    /// </summary>
    internal static string ResolveInRoot(string root, string path)
    {
        var resolved = new List<string>();
        var pending = new LinkedList<string>(path.Split('/'));
        var linksFollowed = 0;
        while (pending.First is { } node)
        {
            var part = node.Value;
            pending.RemoveFirst();
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var candidate = Path.Join(root, string.Join('/', resolved), part);
            if (FileSystem.GetKind(candidate) == FileKind.Symlink)
            {
                // The kernel's own limit; a loop would otherwise spin forever.
                if (++linksFollowed > 40) throw new IOException($"too many levels of symbolic links resolving {path} in {root}");
                var target = new FileInfo(candidate).LinkTarget ?? "";
                if (target.StartsWith('/')) resolved.Clear();
                foreach (var t in target.Split('/').Reverse()) pending.AddFirst(t);
                continue;
            }
            resolved.Add(part);
        }
        return Path.Join(root, string.Join('/', resolved));
    }

    // ---- capabilities and seccomp -------------------------------------------------------------------------------

    /// <summary>
    /// Default 14, then add (ALL first), then drop (ALL first), as containerd orders them; privileged gets every
    /// capability the kernel knows and this process holds in its bounding set. A non-root process keeps the bounding set but only its ambient capabilities
    /// are effective/permitted, as containerd and Docker do.
    /// </summary>
    internal static OciCapabilities Capabilities(SecuritySpec security, uint uid, HostFeatures host)
    {
        const string field = "linux.security_context.capabilities";
        // "Every capability" (privileged, add ALL) is every one the kernel knows that this process can pass on.
        var known = AllCapabilities.Take(Math.Clamp(host.LastCapability + 1, 0, AllCapabilities.Count))
            .Where((_, bit) => host.BoundingCapabilities is not { } bounding || (bounding & (1UL << bit)) != 0).ToList();
        List<string> set;
        if (security.Privileged)
        {
            set = known;
        }
        else
        {
            set = [.. DefaultCapabilities];
            bool IsAll(string c) => c.Equals("ALL", StringComparison.OrdinalIgnoreCase);
            var adds = security.AddCapabilities.Where(c => !IsAll(c)).Select(c => CanonicalCapability(c, field)).ToList();
            var drops = security.DropCapabilities.Where(c => !IsAll(c)).Select(c => CanonicalCapability(c, field)).ToList();
            if (security.AddCapabilities.Any(IsAll)) set = [.. known];
            if (security.DropCapabilities.Any(IsAll)) set.Clear();
            foreach (var cap in adds) if (!set.Contains(cap)) set.Add(cap);
            set.RemoveAll(drops.Contains);
        }
        var ambient = security.AddAmbientCapabilities
            .Select(c => CanonicalCapability(c, "linux.security_context.capabilities.add_ambient_capabilities")).Distinct().ToList();
        // An ambient capability must also be bounding, permitted and inheritable or the kernel refuses to raise it.
        foreach (var cap in ambient) if (!set.Contains(cap)) set.Add(cap);

        return new OciCapabilities
        {
            Bounding = [.. set],
            Effective = uid == 0 ? [.. set] : [.. ambient],
            Permitted = uid == 0 ? [.. set] : [.. ambient],
            // Inheritable stays empty apart from ambient ones (CVE-2022-24769).
            Inheritable = [.. ambient],
            Ambient = [.. ambient],
        };
    }

    static string CanonicalCapability(string name, string field)
    {
        var upper = name.Trim().ToUpperInvariant();
        if (!upper.StartsWith("CAP_", StringComparison.Ordinal)) upper = "CAP_" + upper;
        return AllCapabilities.Contains(upper) ? upper : throw new SpecException(field, $"unknown capability \"{name}\"");
    }

    static OciSeccomp? Seccomp(SecuritySpec security, List<string> bounding)
    {
        const string field = "linux.security_context.seccomp";
        // A privileged container runs unconfined whatever profile it names (Kubernetes' rule; CRI-O and containerd).
        if (security.Privileged) return null;
        return security.Seccomp.Kind switch
        {
            ProfileKind.Localhost => SeccompProfiles.LoadLocalhost(security.Seccomp.LocalhostRef, field),
            ProfileKind.RuntimeDefault => SeccompProfiles.RuntimeDefault(bounding),
            _ => null,
        };
    }

    // ---- namespaces ---------------------------------------------------------------------------------------------

    /// <summary>
    /// A new mount namespace always; network/IPC/UTS are the pod's: they join the sandbox's pinned files, or share
    /// the host's when the pod is in Node mode (no entry); PID per the container's mode; a private cgroup namespace
    /// on cgroup v2 only. The pod decides network and IPC because they are pod-wide: a container config that leaves
    /// its namespace options out (critest does, for a host-network pod) must not get a private, empty network.
    /// </summary>
    internal static List<OciNamespace> Namespaces(SpecInput input)
    {
        var modes = input.Container.Security.Namespaces;
        var podModes = input.Sandbox.Spec.Security.Namespaces;
        var sandbox = input.Sandbox;
        var host = input.Host ?? HostFeatures.Current;
        var result = new List<OciNamespace>();
        // Joined first (runc and crun order it so anyway): the pod's other namespaces belong to it.
        if (UserNamespace(sandbox) is not null) result.Add(new OciNamespace { Type = "user", Path = sandbox.UserNsPath });
        result.Add(new OciNamespace { Type = "mount" });

        void Pod(string type, string path, NamespaceMode mode)
        {
            if (path.Length > 0) result.Add(new OciNamespace { Type = type, Path = path });
            else if (mode != NamespaceMode.Node) result.Add(new OciNamespace { Type = type });
        }
        Pod("network", sandbox.NetNsPath, podModes.Network);
        Pod("ipc", sandbox.IpcNsPath, podModes.Ipc);
        // CRI has no UTS mode: the pod shares the host's UTS namespace exactly when it shares the host's network.
        Pod("uts", sandbox.UtsNsPath, podModes.Network);

        switch (modes.Pid)
        {
            case NamespaceMode.Container:
                result.Add(new OciNamespace { Type = "pid" });
                break;
            case NamespaceMode.Pod or NamespaceMode.Target:
                if (string.IsNullOrEmpty(input.PidNamespacePath))
                    throw new SpecException("linux.security_context.namespace_options.pid", $"PID namespace mode {modes.Pid} needs the namespace of the pod or target container, which is not running");
                result.Add(new OciNamespace { Type = "pid", Path = input.PidNamespacePath });
                break;
        }
        if (host.CgroupV2) result.Add(new OciNamespace { Type = "cgroup" });
        return result;
    }

    /// <summary>The pod's own user namespace (pinned, with its mappings), or null when it uses the node's.</summary>
    static UserNamespaceSpec? UserNamespace(PodSandbox sandbox) =>
        sandbox.UserNsPath.Length > 0 && sandbox.Spec.Security.Namespaces.User is { IsPod: true } u ? u : null;

    // ---- mounts -------------------------------------------------------------------------------------------------

    /// <summary>The standard file systems, the sandbox's /dev/shm and /etc files, then the request's binds; sorted parents first.</summary>
    internal static (List<OciMount> Mounts, string? RootfsPropagation) Mounts(SpecInput input)
    {
        var container = input.Container;
        var security = container.Security;
        var sandbox = input.Sandbox;
        var privileged = security.Privileged;
        var ro = privileged ? "rw" : "ro";

        var defaults = new List<OciMount>
        {
            new() { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] },
            new() { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            new() { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            new() { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
            new() { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", ro] },
            new() { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", ro] },
        };

        // Host IPC shares the host's /dev/shm; otherwise the pod's tmpfs, or a private one if the pod has none.
        if (sandbox.Spec.Security.Namespaces.Ipc == NamespaceMode.Node)
            defaults.Add(Bind("/dev/shm", "/dev/shm", ["rprivate", "rw", "nosuid", "nodev", "noexec"]));
        else if (sandbox.ShmPath.Length > 0)
            defaults.Add(Bind("/dev/shm", sandbox.ShmPath, ["rprivate", "rw", "nosuid", "nodev", "noexec"]));
        else
            defaults.Add(new OciMount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] });

        // The pod's hostname/hosts/resolv.conf, read-only with a read-only rootfs (as containerd); skipped if the
        // sandbox did not write one.
        var etcMode = security.ReadonlyRootfs ? "ro" : "rw";
        foreach (var (destination, source) in new[] { ("/etc/hostname", sandbox.HostnamePath), ("/etc/hosts", sandbox.HostsPath), ("/etc/resolv.conf", sandbox.ResolvConfPath) })
            if (File.Exists(source)) defaults.Add(Bind(destination, source, ["rprivate", etcMode]));

        string? rootfsPropagation = null;
        var requested = new List<OciMount>();
        for (int index = 0; index < container.Mounts.Count; index++)
        {
            var mount = container.Mounts[index];
            const string field = "mounts";
            if (!mount.ContainerPath.StartsWith('/'))
                throw new SpecException(field, $"mount container path \"{mount.ContainerPath}\" is not absolute");
            var source = Source(input, index, mount, field);
            // An image volume is read-only whatever the request says (KEP-4639), and never a way to gain privileges.
            var readOnly = mount.Readonly || mount.IsImage;

            var options = new List<string>();
            switch (mount.Propagation)
            {
                case MountPropagationMode.Bidirectional:
                    options.Add("rshared");
                    rootfsPropagation = "rshared";
                    break;
                case MountPropagationMode.HostToContainer:
                    options.Add("rslave");
                    if (rootfsPropagation != "rshared") rootfsPropagation = "rslave";
                    break;
                default:
                    options.Add("rprivate");
                    break;
            }
            if (mount.RecursiveReadOnly)
            {
                // mount_setattr(MOUNT_ATTR_RDONLY, AT_RECURSIVE): runc ≥ 1.1 and crun ≥ 1.8 know "rro".
                if (!readOnly)
                    throw new SpecException(field, $"mount {mount.ContainerPath}: recursive read-only needs a read-only mount");
                if (mount.Propagation != MountPropagationMode.Private)
                    throw new SpecException(field, $"mount {mount.ContainerPath}: recursive read-only needs private propagation");
                options.Add("rro");
            }
            else
            {
                options.Add(readOnly ? "ro" : "rw");
            }
            if (mount.IsImage) options.AddRange(["nosuid", "nodev"]);
            requested.Add(Bind(CleanPath(mount.ContainerPath), source, options));
        }

        // A requested mount replaces defaults at its destination and below (a /dev mount takes /dev/pts with it).
        var all = defaults
            .Where(d => !requested.Any(r => d.Destination == r.Destination || d.Destination.StartsWith(r.Destination.TrimEnd('/') + "/", StringComparison.Ordinal)))
            .Concat(requested)
            .ToList();
        return (SortByDepth(all), rootfsPropagation);
    }

    /// <summary>What the runtime binds for a requested mount: the host path, or what the create prepared for it.</summary>
    static string Source(SpecInput input, int index, MountSpec mount, string field)
    {
        var prepared = input.MountSources?[index];
        if (mount.IsImage)
            return prepared ?? throw new SpecException(field, $"image volume {mount.ContainerPath}: image \"{mount.Image}\" was not mounted for it");
        if (!mount.HostPath.StartsWith('/'))
            throw new SpecException(field, $"mount host path \"{mount.HostPath}\" for {mount.ContainerPath} is not absolute");
        // Never create it: a missing source is the caller's mistake (kubelet creates what it means to).
        if (!Path.Exists(mount.HostPath))
            throw new SpecException(field, $"mount {mount.ContainerPath}: host path \"{mount.HostPath}\" does not exist");
        if (mount.Idmapped && prepared is null)
            throw new SpecException(field, $"mount {mount.ContainerPath}: uid/gid mappings given but no idmapped source was prepared");
        return prepared ?? mount.HostPath;
    }

    static OciMount Bind(string destination, string source, List<string> options) =>
        new() { Destination = destination, Type = "bind", Source = source, Options = ["rbind", .. options] };

    /// <summary>Stable: depth decides, the given order breaks ties, so a parent is always mounted before its children.</summary>
    internal static List<OciMount> SortByDepth(IEnumerable<OciMount> mounts) =>
        mounts.Select((m, i) => (m, i)).OrderBy(x => Depth(x.m.Destination)).ThenBy(x => x.i).Select(x => x.m).ToList();

    static int Depth(string path) => path == "/" ? 0 : path.Count(ch => ch == '/');

    /// <summary>Lexical cleanup of an absolute path: no empty, "." or ".." components, no trailing slash.</summary>
    internal static string CleanPath(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); }
            else parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    // ---- resources and devices ----------------------------------------------------------------------------------

    internal static OciResources Resources(ResourceSpec resources, HostFeatures host)
    {
        var result = new OciResources();
        if (resources.CpuShares > 0 || resources.CpuQuota != 0 || resources.CpuPeriod > 0 || resources.CpusetCpus.Length > 0 || resources.CpusetMems.Length > 0)
        {
            result.Cpu = new OciCpu
            {
                Shares = resources.CpuShares > 0 ? (ulong)resources.CpuShares : null,
                Quota = resources.CpuQuota != 0 ? resources.CpuQuota : null,
                Period = resources.CpuPeriod > 0 ? (ulong)resources.CpuPeriod : null,
                Cpus = resources.CpusetCpus.Length > 0 ? resources.CpusetCpus : null,
                Mems = resources.CpusetMems.Length > 0 ? resources.CpusetMems : null,
            };
        }
        // Swap is only written when asked for; without it the runtime leaves swap as the cgroup has it.
        if (resources.MemoryLimitInBytes > 0 || resources.MemorySwapLimitInBytes != 0)
        {
            result.Memory = new OciMemory
            {
                Limit = resources.MemoryLimitInBytes > 0 ? resources.MemoryLimitInBytes : null,
                Swap = resources.MemorySwapLimitInBytes != 0 ? resources.MemorySwapLimitInBytes : null,
            };
        }
        // Without a hugetlb controller runc fails to apply the limits, so they are dropped (as containerd does).
        if (resources.HugepageLimits.Count > 0 && host.HugetlbController)
            result.HugepageLimits = [.. resources.HugepageLimits.Select(h => new OciHugepageLimit { PageSize = h.PageSize, Limit = h.Limit })];
        // cgroup v2 file names mean nothing to a v1 hierarchy.
        if (resources.Unified.Count > 0 && host.CgroupV2)
            result.Unified = new Dictionary<string, string>(resources.Unified);
        return result;
    }

    /// <summary>Device nodes and device-cgroup rules: deny-all plus defaults, or allow-all with every host device when privileged.</summary>
    internal static void Devices(ContainerSpec container, OciLinux linux)
    {
        const string field = "devices";
        var privileged = container.Security.Privileged;
        var devices = new List<OciDevice>();
        var rules = new List<OciDeviceRule>();
        if (privileged)
        {
            rules.Add(new OciDeviceRule { Allow = true, Access = "rwm" });
            devices.AddRange(DevicesUnder("/dev", "/dev"));
        }
        else
        {
            rules.Add(new OciDeviceRule { Allow = false, Access = "rwm" });
            rules.AddRange(DefaultDeviceRules.Select(r => new OciDeviceRule { Allow = true, Type = r.Type, Major = r.Major, Minor = r.Minor, Access = r.Access }));
        }

        foreach (var request in container.Devices)
        {
            var access = request.Permissions.Length == 0 ? "rwm" : request.Permissions;
            if (access.Any(ch => ch is not ('r' or 'w' or 'm')))
                throw new SpecException(field, $"device {request.HostPath}: invalid permissions \"{request.Permissions}\" (want a subset of \"rwm\")");
            if (!request.ContainerPath.StartsWith('/'))
                throw new SpecException(field, $"device container path \"{request.ContainerPath}\" is not absolute");
            var hostPath = request.HostPath;
            // /dev/disk/by-id/... and friends are symlinks to the node itself.
            if (FileSystem.GetKind(hostPath) == FileKind.Symlink)
                hostPath = File.ResolveLinkTarget(hostPath, returnFinalTarget: true)?.FullName ?? hostPath;
            var kind = FileSystem.GetKind(hostPath);
            IEnumerable<OciDevice> found = kind switch
            {
                FileKind.Missing => throw new SpecException(field, $"device \"{request.HostPath}\" does not exist on the host"),
                FileKind.CharDevice or FileKind.BlockDevice => [Device(hostPath, CleanPath(request.ContainerPath))],
                FileKind.Directory => DevicesUnder(hostPath, CleanPath(request.ContainerPath)),
                _ => throw new SpecException(field, $"\"{request.HostPath}\" is not a device"),
            };
            foreach (var device in found)
            {
                devices.RemoveAll(d => d.Path == device.Path);
                devices.Add(device);
                if (!privileged)
                    rules.Add(new OciDeviceRule { Allow = true, Type = device.Type, Major = device.Major, Minor = device.Minor, Access = access });
            }
        }
        linux.Devices = devices.Count > 0 ? devices : null;
        linux.Resources ??= new OciResources();
        linux.Resources.Devices = rules;
    }

    static OciDevice Device(string hostPath, string containerPath)
    {
        var st = FileMetadata.Lstat(hostPath);
        return new OciDevice
        {
            Type = st.Kind == FileKind.BlockDevice ? "b" : "c",
            Path = containerPath,
            Major = st.DeviceMajor,
            Minor = st.DeviceMinor,
            FileMode = (uint)st.Mode,
            Uid = st.Uid,
            Gid = st.Gid,
        };
    }

    // Directories a container must not inherit nodes from: its own devpts/shm/mqueue and runtime bookkeeping.
    static readonly string[] SkippedDeviceDirectories = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

    /// <summary>Every device node below <paramref name="hostDirectory"/>, placed at the same relative path under <paramref name="containerDirectory"/>; symlinks are not followed.</summary>
    static IEnumerable<OciDevice> DevicesUnder(string hostDirectory, string containerDirectory)
    {
        var result = new List<OciDevice>();
        var pending = new Stack<(string Host, string Container)>();
        pending.Push((hostDirectory, containerDirectory));
        while (pending.Count > 0)
        {
            var (dir, target) = pending.Pop();
            IEnumerable<string> entries;
            try { entries = Directory.EnumerateFileSystemEntries(dir).ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var entry in entries.Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(entry);
                var inContainer = target.TrimEnd('/') + "/" + name;
                FileKind kind;
                try { kind = FileSystem.GetKind(entry); }
                catch (LinuxException) { continue; }
                if (kind == FileKind.Directory && !SkippedDeviceDirectories.Contains(name)) pending.Push((entry, inContainer));
                // /dev/console is the runtime's to set up (the container's terminal, or none).
                else if (kind is FileKind.CharDevice or FileKind.BlockDevice && name != "console") result.Add(Device(entry, inContainer));
            }
        }
        return result;
    }
}
