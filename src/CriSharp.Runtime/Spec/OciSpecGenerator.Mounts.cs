using CriSharp.Linux;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Runtime.Spec;

/// <summary>OCI spec generation: mounts.</summary>
public static partial class OciSpecGenerator
{
    /// <summary>The standard file systems, the sandbox's /dev/shm and /etc files, then the request's binds; sorted parents first.</summary>
    internal static (List<OciMount> Mounts, string? RootfsPropagation) Mounts(SpecInput input)
    {
        var defaults = DefaultMounts(input.Container.Security, input.Sandbox);
        string? rootfsPropagation = null;
        var requested = new List<OciMount>();
        for (int index = 0; index < input.Container.Mounts.Count; index++)
            requested.Add(RequestedMount(input, index, ref rootfsPropagation));

        // A requested mount replaces defaults at its destination and below (a /dev mount takes /dev/pts with it).
        var all = defaults
            .Where(d => !requested.Any(r => d.Destination == r.Destination || d.Destination.StartsWith(r.Destination.TrimEnd('/') + "/", StringComparison.Ordinal)))
            .Concat(requested)
            .ToList();
        return (OciMounts.SortByDepth(all), rootfsPropagation);
    }

    /// <summary>proc, /dev, devpts, mqueue, sysfs, cgroup, /dev/shm and the pod's /etc files.</summary>
    static List<OciMount> DefaultMounts(SecuritySpec security, PodSandbox sandbox)
    {
        var ro = security.Privileged ? "rw" : "ro";
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
        return defaults;
    }

    /// <summary>The bind for request mount <paramref name="index"/>; a shared or slave one makes the rootfs propagate too.</summary>
    static OciMount RequestedMount(SpecInput input, int index, ref string? rootfsPropagation)
    {
        var mount = input.Container.Mounts[index];
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
        return Bind(OciMounts.CleanPath(mount.ContainerPath), source, options);
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
}
