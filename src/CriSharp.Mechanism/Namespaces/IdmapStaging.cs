using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Mechanism.Namespaces;

/// <summary>
/// Where a container of a user-namespaced pod gets its idmapped mounts while it is created: a private mount
/// (a bind of the directory onto itself, so nothing propagates) holding idmapped clones of the image layers
/// and of the volumes that carry uid/gid mappings. Overlayfs and the runtime take their own references to these
/// mounts, so the whole directory is unmounted and removed as soon as the rootfs is mounted and the runtime has
/// created the container: no idmapped mount outlives the create, and image layers are never chowned.
/// </summary>
public sealed class IdmapStaging
{
    readonly string _dir;

    IdmapStaging(string dir) => _dir = dir;

    public static IdmapStaging Create(string bundle)
    {
        var dir = Path.Combine(bundle, "idmap");
        Directory.CreateDirectory(dir);
        Mounts.Bind(dir, dir);
        Mounts.MakePrivate(dir);
        return new IdmapStaging(dir);
    }

    /// <summary>Idmapped clones of the layer directories (top first, like the input), for the overlay's lowerdir.</summary>
    public List<string> MapLowers(IReadOnlyList<string> lowers, string userNamespacePath, string prefix = "l")
    {
        var mapped = new List<string>(lowers.Count);
        for (int i = 0; i < lowers.Count; i++)
        {
            var target = Path.Combine(_dir, prefix + i);
            Directory.CreateDirectory(target);
            IdmappedMounts.BindIdmapped(lowers[i], target, userNamespacePath);
            mapped.Add(target);
        }
        return mapped;
    }

    /// <summary>
    /// For each mount with uid/gid mappings, an idmapped clone (recursive) of its host path; null for the others.
    /// Mappings equal to the pod's use the pod's user namespace; others get a user namespace of their own here.
    /// A file system that cannot be idmapped fails the create, naming the mount.
    /// </summary>
    public async Task<List<string?>> MapVolumesAsync(IReadOnlyList<MountSpec> mounts, PodSandbox sandbox, NamespacePinner pinner, CancellationToken ct)
    {
        var pod = sandbox.Spec.Security.Namespaces.User!;
        var sources = new List<string?>(mounts.Count);
        for (int i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            // An image volume's layers are mapped like the rootfs's (see ImageVolumes), not as a host path.
            if (!m.Idmapped || m.IsImage)
            {
                sources.Add(null);
                continue;
            }
            var owner = sandbox.UserNsPath;
            if (!m.UidMappings!.SequenceEqual(pod.Uids!) || !m.GidMappings!.SequenceEqual(pod.Gids!))
            {
                owner = Path.Combine(_dir, "userns" + i);
                await pinner.PinUserNamespaceAsync(owner, m.UidMappings!, m.GidMappings!, ct).ConfigureAwait(false);
            }
            var target = Path.Combine(_dir, "v" + i);
            if (Directory.Exists(m.HostPath)) Directory.CreateDirectory(target);
            else using (File.Create(target)) { }
            try
            {
                IdmappedMounts.BindIdmapped(m.HostPath, target, owner, recursive: true);
            }
            catch (LinuxException e)
            {
                var host = Path.GetFullPath(m.HostPath);
                var fs = Mounts.ReadMountInfo()
                    .Where(x => x.MountPoint == "/" || host == x.MountPoint || host.StartsWith(x.MountPoint + "/", StringComparison.Ordinal))
                    .MaxBy(x => x.MountPoint.Length)?.FsType ?? "unknown";
                throw new InvalidRequestException($"config.mounts[{i}]",
                    $"host path \"{m.HostPath}\" for {m.ContainerPath} cannot be idmapped (file system {fs}): {e.Message}");
            }
            sources.Add(target);
        }
        return sources;
    }

    /// <summary>Unmounts every clone and the directory itself and deletes it; safe to call twice.</summary>
    public void Release()
    {
        if (!Directory.Exists(_dir)) return;
        // Detached, never recursed into: the clones are of host volumes, and a delete must not reach through them.
        Mounts.UnmountAllUnder(_dir);
        var left = Mounts.ReadMountInfo().FirstOrDefault(m => m.MountPoint == _dir || m.MountPoint.StartsWith(_dir + "/", StringComparison.Ordinal));
        if (left is not null) throw new IOException($"{left.MountPoint} is still mounted; {_dir} is left in place");
        Directory.Delete(_dir, recursive: true);
    }
}
