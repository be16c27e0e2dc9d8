using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Mechanism.Cdi;

/// <summary>Applies resolved CDI edits to a container's OCI spec.</summary>
public static class CdiEditor
{
    /// <summary>
    /// Applies every edit set in order: env (a NAME replaces the same NAME), device nodes (replacing a node at the same
    /// path; plus a device-cgroup allow rule unless <paramref name="privileged"/>), mounts (replacing one at the same
    /// destination; all mounts then sorted parents first), hooks (appended) and additional gids (no zeros, no repeats).
    /// Throws <see cref="WrongStateException"/> for a device node without a usable host node, or for edits CriSharp
    /// does not apply (intelRdt, netDevices).
    /// </summary>
    public static void Apply(OciSpec spec, CdiResolution resolution, bool privileged)
    {
        var mounted = false;
        foreach (var set in resolution.Edits)
        {
            if (CdiRegistry.Unsupported(set.Edits) is { } edit)
                throw new WrongStateException($"CDI device {set.Device} (spec {set.SpecFile}) needs {edit}, which CriSharp does not apply");
            var edits = set.Edits;
            foreach (var entry in edits.Env ?? []) SetEnv(Process(spec), entry);
            foreach (var node in edits.DeviceNodes ?? []) AddDevice(spec, node, set, privileged);
            foreach (var mount in edits.Mounts ?? []) AddMount(spec, mount, set);
            foreach (var hook in edits.Hooks ?? []) AddHook(spec, hook, set);
            foreach (var gid in edits.AdditionalGids ?? []) AddGid(Process(spec), gid);
            mounted |= edits.Mounts is { Count: > 0 };
        }
        if (mounted) spec.Mounts = OciMounts.SortByDepth(spec.Mounts ?? []);
    }

    static OciProcess Process(OciSpec spec) => spec.Process ??= new OciProcess();

    /// <summary>"NAME=VALUE": replaces the first NAME (dropping later repeats of it), else appends.</summary>
    static void SetEnv(OciProcess process, string entry)
    {
        var env = process.Env ??= [];
        var prefix = entry[..(entry.IndexOf('=') + 1)];
        var at = env.FindIndex(e => e.StartsWith(prefix, StringComparison.Ordinal));
        if (at < 0)
        {
            env.Add(entry);
            return;
        }
        env[at] = entry;
        for (int i = env.Count - 1; i > at; i--)
            if (env[i].StartsWith(prefix, StringComparison.Ordinal)) env.RemoveAt(i);
    }

    static void AddDevice(OciSpec spec, CdiDeviceNode node, CdiEditSet set, bool privileged)
    {
        var device = CdiDeviceNodes.ToOci(node, set);
        var linux = spec.Linux ??= new OciLinux();
        var devices = linux.Devices ??= [];
        devices.RemoveAll(d => d.Path == device.Path);
        devices.Add(device);
        if (privileged || CdiDeviceNodes.Rule(node, device) is not { } rule) return;
        var resources = linux.Resources ??= new OciResources();
        (resources.Devices ??= []).Add(rule);
    }

    /// <summary>An OCI mount; no type means a bind mount, and a bind mount without "bind"/"rbind" gets "rbind".</summary>
    static void AddMount(OciSpec spec, CdiMount mount, CdiEditSet set)
    {
        var destination = OciMounts.CleanPath(mount.ContainerPath);
        var type = mount.Type.Length > 0 ? mount.Type : "bind";
        // A spec may be written before its resources exist; they must exist when a container uses them.
        if (type == "bind" && !Path.Exists(mount.HostPath))
            throw new WrongStateException($"CDI device {set.Device} (spec {set.SpecFile}): mount {destination}: host path \"{mount.HostPath}\" does not exist");
        var options = mount.Options?.ToList() ?? [];
        if (type == "bind" && !options.Contains("bind") && !options.Contains("rbind")) options.Insert(0, "rbind");
        var mounts = spec.Mounts ??= [];
        mounts.RemoveAll(m => OciMounts.CleanPath(m.Destination) == destination);
        mounts.Add(new OciMount { Destination = destination, Type = type, Source = mount.HostPath, Options = options.Count > 0 ? options : null });
    }

    static void AddHook(OciSpec spec, CdiHook hook, CdiEditSet set)
    {
        var hooks = spec.Hooks ??= new OciHooks();
        var list = hook.HookName switch
        {
            "prestart" => hooks.Prestart ??= [],
            "createRuntime" => hooks.CreateRuntime ??= [],
            "createContainer" => hooks.CreateContainer ??= [],
            "startContainer" => hooks.StartContainer ??= [],
            "poststart" => hooks.Poststart ??= [],
            "poststop" => hooks.Poststop ??= [],
            var other => throw new WrongStateException($"CDI device {set.Device} (spec {set.SpecFile}): unknown hook name \"{other}\""),
        };
        list.Add(new OciHook { Path = hook.Path, Args = hook.Args?.ToList(), Env = hook.Env?.ToList(), Timeout = hook.Timeout });
    }

    static void AddGid(OciProcess process, uint gid)
    {
        if (gid == 0) return;
        var gids = process.User.AdditionalGids ??= [];
        if (!gids.Contains(gid)) gids.Add(gid);
    }
}
