using CriSharp.Linux;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Mechanism.Cdi;

/// <summary>CDI device nodes as OCI devices: what the spec leaves out is read from the host node.</summary>
internal static class CdiDeviceNodes
{
    /// <summary>
    /// The OCI device for <paramref name="node"/>. The host node (hostPath, else path; a symlink followed to its target)
    /// is stat'ed when the type is not given, or a b/c/u node has no major; from it come the type, major, minor and,
    /// unless given, the permission bits. Throws <see cref="WrongStateException"/> when it is missing or not a device.
    /// </summary>
    public static OciDevice ToOci(CdiDeviceNode node, CdiEditSet source)
    {
        var hostPath = node.HostPath.Length > 0 ? node.HostPath : node.Path;
        var (type, major, minor, mode) = (node.Type, node.Major, node.Minor, node.FileMode);
        var complete = type.Length > 0 && (major != 0 || type == "p");
        if (!complete)
        {
            var host = Stat(hostPath, out var why) ?? throw Fail(node, source, why!);
            var hostType = TypeOf(host.Kind) ?? throw Fail(node, source, $"host path {hostPath} is not a device node");
            if (type.Length == 0) type = hostType;
            else if (type != hostType && !(type == "u" && hostType == "c"))
                throw Fail(node, source, $"type \"{type}\" does not match the host node {hostPath} (\"{hostType}\")");
            if (type != "p" && major == 0) (major, minor) = (host.DeviceMajor, host.DeviceMinor);
            mode ??= (uint)host.Mode;
        }
        else if (mode is null && Stat(hostPath, out _) is { } host && TypeOf(host.Kind) is not null)
        {
            // Fully described: the host node, when there is one, still gives the permission bits.
            mode = (uint)host.Mode;
        }
        return new OciDevice
        {
            Type = type,
            Path = OciMounts.CleanPath(node.Path),
            Major = major,
            Minor = minor,
            FileMode = mode,
            Uid = node.Uid,
            Gid = node.Gid,
        };
    }

    /// <summary>The device-cgroup rule that lets the container use the node; null for a FIFO or "none" permissions.</summary>
    public static OciDeviceRule? Rule(CdiDeviceNode node, OciDevice device)
    {
        if (device.Type == "p" || node.Permissions == "none") return null;
        return new OciDeviceRule
        {
            Allow = true,
            Type = device.Type == "u" ? "c" : device.Type,
            Major = device.Major,
            Minor = device.Minor,
            Access = node.Permissions.Length > 0 ? node.Permissions : "rwm",
        };
    }

    static string? TypeOf(FileKind kind) => kind switch
    {
        FileKind.BlockDevice => "b",
        FileKind.CharDevice => "c",
        FileKind.Fifo => "p",
        _ => null,
    };

    /// <summary>lstat(2) of the path's final target; null with the reason when there is none.</summary>
    static FileStatus? Stat(string hostPath, out string? why)
    {
        why = null;
        try
        {
            var path = FileSystem.GetKind(hostPath) == FileKind.Symlink
                ? File.ResolveLinkTarget(hostPath, returnFinalTarget: true)?.FullName ?? hostPath
                : hostPath;
            if (FileSystem.GetKind(path) != FileKind.Missing) return FileMetadata.Lstat(path);
            why = path == hostPath ? $"host path {hostPath} does not exist" : $"host path {hostPath} points to {path}, which does not exist";
        }
        catch (Exception e) when (e is LinuxException or IOException or UnauthorizedAccessException)
        {
            why = $"cannot stat host path {hostPath}: {e.Message}";
        }
        return null;
    }

    static WrongStateException Fail(CdiDeviceNode node, CdiEditSet source, string why) =>
        new($"CDI device {source.Device}: device node {node.Path} (spec {source.SpecFile}): {why}");
}
