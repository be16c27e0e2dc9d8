using CriSharp.Mechanism;
using CriSharp.Linux;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Runtime.Spec;

/// <summary>OCI spec generation: resources and devices.</summary>
public static partial class OciSpecGenerator
{
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
                FileKind.CharDevice or FileKind.BlockDevice => [Device(hostPath, OciMounts.CleanPath(request.ContainerPath))],
                FileKind.Directory => DevicesUnder(hostPath, OciMounts.CleanPath(request.ContainerPath)),
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
