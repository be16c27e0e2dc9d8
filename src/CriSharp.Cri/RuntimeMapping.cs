using CriSharp.Model;
using E = CriSharp.Model;
using P = CriSharp.Api.V1;

namespace CriSharp.Cri;

/// <summary>The thin mapping between CRI protobuf messages and the engine's own records.</summary>
// The deprecated seccomp/AppArmor path fields are still read: older kubelets send only them.
#pragma warning disable CS0612
static class RuntimeMapping
{
    public static SandboxSpec ToSandboxSpec(P.PodSandboxConfig c, string runtimeHandler)
    {
        var linux = c.Linux;
        var sec = linux?.SecurityContext;
        return new SandboxSpec
        {
            Name = c.Metadata?.Name ?? "",
            Uid = c.Metadata?.Uid ?? "",
            Namespace = c.Metadata?.Namespace ?? "",
            Attempt = c.Metadata?.Attempt ?? 0,
            Hostname = c.Hostname,
            LogDirectory = c.LogDirectory,
            DnsServers = [.. c.DnsConfig?.Servers ?? []],
            DnsSearches = [.. c.DnsConfig?.Searches ?? []],
            DnsOptions = [.. c.DnsConfig?.Options ?? []],
            PortMappings = [.. c.PortMappings.Select(p => new PortMappingSpec(p.Protocol.ToString().ToLowerInvariant(), p.ContainerPort, p.HostPort, p.HostIp))],
            Labels = new(c.Labels),
            Annotations = new(c.Annotations),
            CgroupParent = linux?.CgroupParent ?? "",
            Sysctls = new(linux?.Sysctls ?? new Google.Protobuf.Collections.MapField<string, string>()),
            Overhead = linux?.Overhead == null ? null : ToResources(linux.Overhead),
            Resources = linux?.Resources == null ? null : ToResources(linux.Resources),
            RuntimeHandler = runtimeHandler,
            Security = new SandboxSecuritySpec
            {
                Namespaces = ToNamespaces(sec?.NamespaceOptions, defaultPid: E.NamespaceMode.Container),
                RunAsUser = sec?.RunAsUser?.Value,
                RunAsGroup = sec?.RunAsGroup?.Value,
                ReadonlyRootfs = sec?.ReadonlyRootfs ?? false,
                SupplementalGroups = [.. sec?.SupplementalGroups ?? []],
                Privileged = sec?.Privileged ?? false,
                Seccomp = ToSeccompProfile(sec?.Seccomp, sec?.SeccompProfilePath),
                Apparmor = ToProfile(sec?.Apparmor, null),
                Selinux = sec?.SelinuxOptions is { } s ? new SelinuxSpec(s.User, s.Role, s.Type, s.Level) : new(),
            },
        };
    }

    public static ContainerSpec ToContainerSpec(P.ContainerConfig c)
    {
        var sec = c.Linux?.SecurityContext;
        return new ContainerSpec
        {
            Name = c.Metadata?.Name ?? "",
            Attempt = c.Metadata?.Attempt ?? 0,
            Image = c.Image?.Image ?? "",
            Command = [.. c.Command],
            Args = [.. c.Args],
            WorkingDir = c.WorkingDir,
            Envs = [.. c.Envs.Select(e => KeyValuePair.Create(e.Key, e.Value))],
            Mounts = [.. c.Mounts.Select(m => new MountSpec(m.ContainerPath, m.HostPath, m.Readonly, (MountPropagationMode)(int)m.Propagation, m.RecursiveReadOnly, m.SelinuxRelabel,
                m.UidMappings.Count > 0 ? ToMappings(m.UidMappings) : null, m.GidMappings.Count > 0 ? ToMappings(m.GidMappings) : null,
                m.Image?.Image ?? "", m.ImageSubPath))],
            Devices = [.. c.Devices.Select(d => new DeviceSpec(d.ContainerPath, d.HostPath, d.Permissions))],
            CdiDevices = [.. c.CDIDevices.Select(d => d.Name)],
            Labels = new(c.Labels),
            Annotations = new(c.Annotations),
            LogPath = c.LogPath,
            Stdin = c.Stdin,
            StdinOnce = c.StdinOnce,
            Tty = c.Tty,
            Resources = c.Linux?.Resources is { } r ? ToResources(r) : new ResourceSpec(),
            StopSignal = SignalName(c.StopSignal),
            Security = new SecuritySpec
            {
                AddCapabilities = [.. sec?.Capabilities?.AddCapabilities ?? []],
                DropCapabilities = [.. sec?.Capabilities?.DropCapabilities ?? []],
                AddAmbientCapabilities = [.. sec?.Capabilities?.AddAmbientCapabilities ?? []],
                Privileged = sec?.Privileged ?? false,
                Namespaces = ToNamespaces(sec?.NamespaceOptions, defaultPid: E.NamespaceMode.Container),
                RunAsUser = sec?.RunAsUser?.Value,
                RunAsGroup = sec?.RunAsGroup?.Value,
                RunAsUsername = sec?.RunAsUsername ?? "",
                ReadonlyRootfs = sec?.ReadonlyRootfs ?? false,
                SupplementalGroups = [.. sec?.SupplementalGroups ?? []],
                SupplementalGroupsPolicy = (E.SupplementalGroupsPolicy)(int)(sec?.SupplementalGroupsPolicy ?? P.SupplementalGroupsPolicy.Merge),
                NoNewPrivs = sec?.NoNewPrivs ?? false,
                // kubelet sends empty lists for the Unmasked procMount; absent security context means defaults.
                MaskedPaths = sec == null ? null : [.. sec.MaskedPaths],
                ReadonlyPaths = sec == null ? null : [.. sec.ReadonlyPaths],
                Seccomp = ToSeccompProfile(sec?.Seccomp, sec?.SeccompProfilePath),
                Apparmor = ToProfile(sec?.Apparmor, sec?.ApparmorProfile),
                Selinux = sec?.SelinuxOptions is { } s ? new SelinuxSpec(s.User, s.Role, s.Type, s.Level) : new(),
            },
        };
    }

    public static ResourceSpec ToResources(P.LinuxContainerResources r) => new()
    {
        CpuPeriod = r.CpuPeriod,
        CpuQuota = r.CpuQuota,
        CpuShares = r.CpuShares,
        MemoryLimitInBytes = r.MemoryLimitInBytes,
        MemorySwapLimitInBytes = r.MemorySwapLimitInBytes,
        OomScoreAdj = r.OomScoreAdj,
        CpusetCpus = r.CpusetCpus,
        CpusetMems = r.CpusetMems,
        HugepageLimits = [.. r.HugepageLimits.Select(h => new HugepageLimitSpec(h.PageSize, h.Limit))],
        Unified = new(r.Unified),
    };

    public static P.LinuxContainerResources FromResources(ResourceSpec r)
    {
        var p = new P.LinuxContainerResources
        {
            CpuPeriod = r.CpuPeriod,
            CpuQuota = r.CpuQuota,
            CpuShares = r.CpuShares,
            MemoryLimitInBytes = r.MemoryLimitInBytes,
            MemorySwapLimitInBytes = r.MemorySwapLimitInBytes,
            OomScoreAdj = r.OomScoreAdj,
            CpusetCpus = r.CpusetCpus,
            CpusetMems = r.CpusetMems,
        };
        p.HugepageLimits.AddRange(r.HugepageLimits.Select(h => new P.HugepageLimit { PageSize = h.PageSize, Limit = h.Limit }));
        p.Unified.Add(r.Unified);
        return p;
    }

    public static NamespaceModes ToNamespaces(P.NamespaceOption? o, E.NamespaceMode defaultPid) => o == null
        ? new NamespaceModes(E.NamespaceMode.Pod, defaultPid, E.NamespaceMode.Pod)
        : new NamespaceModes((E.NamespaceMode)(int)o.Network, (E.NamespaceMode)(int)o.Pid, (E.NamespaceMode)(int)o.Ipc, o.TargetId,
            o.UsernsOptions is { } u ? new UserNamespaceSpec((E.NamespaceMode)(int)u.Mode, ToMappings(u.Uids), ToMappings(u.Gids)) : null);

    static List<IdMapping> ToMappings(IEnumerable<P.IDMapping> m) => [.. m.Select(x => new IdMapping(x.ContainerId, x.HostId, x.Length))];

    static IEnumerable<P.IDMapping> FromMappings(IEnumerable<IdMapping>? m) =>
        (m ?? []).Select(x => new P.IDMapping { ContainerId = x.ContainerId, HostId = x.HostId, Length = x.Length });

    public static P.NamespaceOption FromNamespaces(NamespaceModes n)
    {
        var o = new P.NamespaceOption
        {
            Network = (P.NamespaceMode)(int)n.Network,
            Pid = (P.NamespaceMode)(int)n.Pid,
            Ipc = (P.NamespaceMode)(int)n.Ipc,
            TargetId = n.TargetId,
        };
        if (n.User is { } u)
        {
            o.UsernsOptions = new P.UserNamespace { Mode = (P.NamespaceMode)(int)u.Mode };
            o.UsernsOptions.Uids.AddRange(FromMappings(u.Uids));
            o.UsernsOptions.Gids.AddRange(FromMappings(u.Gids));
        }
        return o;
    }

    /// <summary>The structured profile wins over the deprecated path field ("runtime/default", "unconfined", "localhost/…").</summary>
    static ProfileSpec ToProfile(P.SecurityProfile? p, string? legacyPath)
    {
        if (p != null)
            return new ProfileSpec((ProfileKind)(int)p.ProfileType, p.LocalhostRef);
        return legacyPath switch
        {
            null or "" or "unconfined" => new ProfileSpec(ProfileKind.Unconfined),
            "runtime/default" or "docker/default" => new ProfileSpec(ProfileKind.RuntimeDefault),
            _ when legacyPath.StartsWith("localhost/", StringComparison.Ordinal) => new ProfileSpec(ProfileKind.Localhost, legacyPath["localhost/".Length..]),
            _ => new ProfileSpec(ProfileKind.Localhost, legacyPath),
        };
    }

    /// <summary>
    /// The structured seccomp profile wins; the deprecated path field takes only "runtime/default", "docker/default",
    /// "unconfined" and "localhost/&lt;absolute path&gt;" (kubelet's values): anything else is refused, not guessed at.
    /// </summary>
    static ProfileSpec ToSeccompProfile(P.SecurityProfile? p, string? legacyPath)
    {
        const string field = "linux.security_context.seccomp_profile_path";
        if (p != null || string.IsNullOrEmpty(legacyPath)) return ToProfile(p, legacyPath);
        if (legacyPath is "unconfined" or "runtime/default" or "docker/default") return ToProfile(null, legacyPath);
        if (legacyPath.StartsWith("localhost/", StringComparison.Ordinal) && Path.IsPathRooted(legacyPath["localhost/".Length..]))
            return new ProfileSpec(ProfileKind.Localhost, legacyPath["localhost/".Length..]);
        throw new CriSharpException(ErrorKind.InvalidArgument,
            $"{field}: '{legacyPath}' is not one of runtime/default, docker/default, unconfined or localhost/<absolute path>");
    }

    /// <summary>CRI's Signal enum name ("SIGRTMINPLUS3") as a signal name the engine parses ("SIGRTMIN+3"); "" for the default.</summary>
    static string SignalName(P.Signal s)
    {
        if (s == P.Signal.RuntimeDefault) return "";
        var name = SignalDescriptor.FindValueByNumber((int)s).Name;
        return name.Replace("PLUS", "+").Replace("MINUS", "-");
    }

    static readonly Google.Protobuf.Reflection.EnumDescriptor SignalDescriptor =
        P.ApiReflection.Descriptor.EnumTypes.Single(e => e.Name == "Signal");

    static readonly Dictionary<int, P.Signal> SignalByNumber = SignalDescriptor.Values
        .Where(v => v.Number != 0)
        .GroupBy(v => CriSharp.Mechanism.Processes.Signals.Parse(v.Name.Replace("PLUS", "+").Replace("MINUS", "-")))
        .ToDictionary(g => g.Key, g => (P.Signal)g.First().Number);

    /// <summary>The CRI Signal enum value for a signal number (RUNTIME_DEFAULT if it has none).</summary>
    public static P.Signal ToSignalEnum(int number) => SignalByNumber.GetValueOrDefault(number, P.Signal.RuntimeDefault);

    public static P.PodSandboxMetadata Metadata(SandboxSpec s) => new() { Name = s.Name, Uid = s.Uid, Namespace = s.Namespace, Attempt = s.Attempt };

    public static P.PodSandboxState State(SandboxState s) => s == SandboxState.Ready ? P.PodSandboxState.SandboxReady : P.PodSandboxState.SandboxNotready;

    public static P.ContainerState State(E.ContainerState s) => (P.ContainerState)(int)s;

    /// <summary>Exact-match label selector, as CRI defines it.</summary>
    public static bool Matches(IReadOnlyDictionary<string, string> labels, Google.Protobuf.Collections.MapField<string, string>? selector) =>
        selector == null || selector.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value);
}
