using CriSharp.Model;

namespace CriSharp.Runtime.Pods;

/// <summary>
/// The user namespace requests CriSharp serves (KEP-127, as kubelet 1.36 sends them): the node's, or one per pod
/// with exactly one uid and one gid range that starts at container id 0 and never maps the node's root. The pod's
/// network, IPC and PID namespaces must then be its own, since they have to belong to its user namespace.
/// </summary>
public static class UserNamespaceValidator
{
    public const string PodField = "config.linux.security_context.namespace_options.userns_options";
    public const string ContainerField = "config.linux.security_context.namespace_options.userns_options";

    /// <summary>Throws <see cref="InvalidRequestException"/> naming the field for a request CriSharp cannot honour.</summary>
    public static void ValidatePod(NamespaceModes modes)
    {
        var userns = modes.User;
        if (userns is null) return;
        switch (userns.Mode)
        {
            case NamespaceMode.Node:
                if (userns.Uids is { Count: > 0 } || userns.Gids is { Count: > 0 })
                    throw new InvalidRequestException(PodField + ".uids", "mappings are only valid with mode POD (NODE uses the node's own)");
                return;
            case NamespaceMode.Container or NamespaceMode.Target:
                throw new InvalidRequestException(PodField + ".mode",
                    $"{userns.Mode.ToString().ToUpperInvariant()} is not supported: a user namespace is the pod's (POD) or the node's (NODE)");
        }
        Mapping(userns.Uids, PodField + ".uids");
        Mapping(userns.Gids, PodField + ".gids");
        foreach (var (mode, name) in new[] { (modes.Network, "network"), (modes.Ipc, "ipc"), (modes.Pid, "pid") })
            if (mode == NamespaceMode.Node)
                throw new InvalidRequestException(PodField,
                    $"mode POD cannot be combined with namespace_options.{name} NODE: the pod's namespaces must belong to its user namespace");
    }

    /// <summary>A container either leaves userns_options out (it joins the pod's) or repeats the pod's exactly.</summary>
    public static void ValidateContainer(NamespaceModes container, PodSandbox sandbox)
    {
        var pod = sandbox.Spec.Security.Namespaces.User ?? new UserNamespaceSpec();
        if (container.User is { } asked && !asked.SameAs(pod))
            throw new InvalidRequestException(ContainerField,
                $"{asked} differs from pod sandbox {sandbox.Id}'s {pod}: containers share their pod's user namespace");
    }

    /// <summary>Idmapped mounts need a pod user namespace and a mapping for both uids and gids.</summary>
    public static void ValidateMounts(IReadOnlyList<MountSpec> mounts, PodSandbox sandbox)
    {
        var podHasUserns = sandbox.Spec.Security.Namespaces.User is { IsPod: true };
        for (int i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            if (!m.Idmapped) continue;
            var field = $"config.mounts[{i}]";
            if (!podHasUserns)
                throw new InvalidRequestException(field + ".uid_mappings", $"idmapped mount {m.ContainerPath} needs a pod with its own user namespace");
            if (m.UidMappings is not { Count: > 0 } || m.GidMappings is not { Count: > 0 })
                throw new InvalidRequestException(field, $"idmapped mount {m.ContainerPath} needs both uid_mappings and gid_mappings");
            Ranges(m.UidMappings, field + ".uid_mappings");
            Ranges(m.GidMappings, field + ".gid_mappings");
        }
    }

    static void Mapping(List<IdMapping>? mappings, string field)
    {
        if (mappings is not { Count: 1 })
            throw new InvalidRequestException(field, $"exactly one mapping is supported with mode POD, got {mappings?.Count ?? 0}");
        var m = mappings[0];
        if (m.ContainerId != 0)
            throw new InvalidRequestException(field + "[0].container_id", $"must be 0, got {m.ContainerId}: container root would be unmapped");
        if (m.HostId == 0)
            throw new InvalidRequestException(field + "[0].host_id", "must not be 0: the node's root user would be root in the pod");
        Ranges(mappings, field);
    }

    static void Ranges(List<IdMapping> mappings, string field)
    {
        for (int i = 0; i < mappings.Count; i++)
        {
            var m = mappings[i];
            if (m.Length == 0)
                throw new InvalidRequestException($"{field}[{i}].length", "must be at least 1");
            // The kernel maps ids below 2^32 - 1 ((uid_t)-1 is never a valid id).
            if ((ulong)m.HostId + m.Length > uint.MaxValue || (ulong)m.ContainerId + m.Length > uint.MaxValue)
                throw new InvalidRequestException($"{field}[{i}]", $"range {m.MapLine} runs past the last id 4294967294");
        }
    }
}
