using CriSharp.Mechanism;
using CriSharp.Images;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Runtime.Spec;

/// <summary>
/// Turns a CRI container request (plus its sandbox and image) into an OCI runtime-spec config.json that
/// runc ≥ 1.1 and crun ≥ 1.8 accept. Pure apart from reading the image's /etc/passwd and /etc/group,
/// the seccomp profile file and stat-ing host paths.
/// </summary>
public static partial class OciSpecGenerator
{
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
        var nofile = Math.Min(OciDefaults.DefaultNofile, host.OpenFilesHardLimit);

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
        var linux = Linux(input, namespaces, rootfsPropagation, capabilities, host);

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

    /// <summary>The linux section: namespaces, cgroup and resources, devices, id mappings, masked paths, seccomp.</summary>
    static OciLinux Linux(SpecInput input, List<OciNamespace> namespaces, string? rootfsPropagation, OciCapabilities capabilities, HostFeatures host)
    {
        var container = input.Container;
        var security = container.Security;
        var linux = new OciLinux
        {
            Namespaces = namespaces,
            CgroupsPath = input.CgroupsPath,
            Resources = Resources(container.Resources, host),
            RootfsPropagation = rootfsPropagation,
        };
        Devices(container, linux);
        var userns = UserNamespace(input.Sandbox);
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
        return linux;
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
}
