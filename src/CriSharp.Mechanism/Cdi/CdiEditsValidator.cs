namespace CriSharp.Mechanism.Cdi;

/// <summary>The rules a spec's containerEdits must follow (reference container-edits.go, plus SPEC.md's absolute paths and positive timeouts).</summary>
internal static class CdiEditsValidator
{
    public static readonly string[] HookNames = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

    static readonly string[] DeviceTypes = ["", "b", "c", "u", "p"];

    /// <summary>Null when the edits are valid, else why not; <paramref name="where"/> says whose edits they are.</summary>
    public static string? Check(CdiContainerEdits? edits, string where)
    {
        if (edits is null) return null;
        var error = CheckEnv(edits.Env, "env")
            ?? Each(edits.DeviceNodes, "deviceNodes", CheckDeviceNode)
            ?? Each(edits.Hooks, "hooks", CheckHook)
            ?? Each(edits.Mounts, "mounts", CheckMount)
            ?? CheckIntelRdt(edits.IntelRdt)
            ?? CheckNetDevices(edits.NetDevices);
        return error is null ? null : $"{where} containerEdits: {error}";
    }

    static string? Each<T>(List<T>? items, string field, Func<T, string?> check) where T : class
    {
        foreach (var item in items ?? [])
            if ((item is null ? $"{field} has a null entry" : check(item)) is { } error) return error;
        return null;
    }

    /// <summary>Each entry NAME=VALUE with a non-empty NAME.</summary>
    static string? CheckEnv(List<string>? env, string field)
    {
        foreach (var entry in env ?? [])
            if (entry.IndexOf('=') <= 0) return $"{field} entry \"{entry}\" is not NAME=VALUE";
        return null;
    }

    static string? CheckDeviceNode(CdiDeviceNode node)
    {
        if (node.Path.Length == 0) return "a device node has no path";
        if (!node.Path.StartsWith('/')) return $"device node path \"{node.Path}\" is not absolute";
        if (!DeviceTypes.Contains(node.Type)) return $"device node {node.Path}: invalid type \"{node.Type}\" (want b, c, u or p)";
        if (node.Permissions != "none" && node.Permissions.Any(ch => ch is not ('r' or 'w' or 'm')))
            return $"device node {node.Path}: invalid permissions \"{node.Permissions}\" (want a subset of \"rwm\")";
        if (node.Major < 0 || node.Minor < 0) return $"device node {node.Path}: negative major or minor number";
        return null;
    }

    static string? CheckHook(CdiHook hook)
    {
        if (!HookNames.Contains(hook.HookName))
            return $"invalid hook name \"{hook.HookName}\" (want one of {string.Join(", ", HookNames)})";
        if (!hook.Path.StartsWith('/')) return $"{hook.HookName} hook path \"{hook.Path}\" is not absolute";
        if (hook.Timeout is <= 0) return $"{hook.HookName} hook {hook.Path}: timeout must be greater than zero";
        return CheckEnv(hook.Env, $"{hook.HookName} hook {hook.Path} env");
    }

    static string? CheckMount(CdiMount mount)
    {
        if (mount.HostPath.Length == 0) return $"mount {mount.ContainerPath}: empty hostPath";
        if (mount.ContainerPath.Length == 0) return $"mount of {mount.HostPath}: empty containerPath";
        if (!mount.ContainerPath.StartsWith('/')) return $"mount containerPath \"{mount.ContainerPath}\" is not absolute";
        return null;
    }

    static string? CheckIntelRdt(CdiIntelRdt? rdt)
    {
        if (rdt is null || rdt.ClosId == "/") return null;
        return rdt.ClosId.Length >= 4096 || rdt.ClosId is "." or ".." || rdt.ClosId.AsSpan().IndexOfAny('/', '\n') >= 0
            ? $"invalid intelRdt closID \"{rdt.ClosId}\""
            : null;
    }

    static string? CheckNetDevices(List<CdiNetDevice>? devices)
    {
        var hosts = new HashSet<string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var device in devices ?? [])
        {
            if (device is null) return "netDevices has a null entry";
            if (device.HostInterfaceName.Length == 0 || device.Name.Length == 0)
                return "a netDevices entry needs hostInterfaceName and name";
            if (!hosts.Add(device.HostInterfaceName)) return $"netDevices: host interface {device.HostInterfaceName} is listed twice";
            if (!names.Add(device.Name)) return $"netDevices: container interface {device.Name} is listed twice";
        }
        return null;
    }
}
