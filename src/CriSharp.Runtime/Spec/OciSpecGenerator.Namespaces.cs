using CriSharp.Mechanism;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Runtime.Spec;

/// <summary>OCI spec generation: namespaces.</summary>
public static partial class OciSpecGenerator
{
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
}
