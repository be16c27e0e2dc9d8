using System.Globalization;
using CriSharp.Images;
using CriSharp.Linux;
using CriSharp.Model;
using CriSharp.Runtime.Spec;

namespace CriSharp.Runtime.Containers;

/// <summary>
/// Image volumes (CRI Mount.image, KEP-4639): an image from the store mounted read-only into a container. Each is
/// an overlay of the image's layers without an upper directory at &lt;bundle&gt;/volumes/&lt;mount index&gt;, made
/// by the create and unmounted when the container exits, is removed, or is found exited at the next start; the
/// runtime binds it (or its image_sub_path) at the container path.
/// </summary>
public static class ImageVolumes
{
    /// <summary>
    /// The image of every image mount by mount index; refuses what cannot be an image volume before anything is
    /// made: a host path beside the image, a sub path that is absolute or climbs out, mappings other than the
    /// pod's, an image that is not in the store (kubelet pulls it first).
    /// </summary>
    public static Dictionary<int, ImageRecord> Resolve(IReadOnlyList<MountSpec> mounts, Func<string, ImageRecord?> find, PodSandbox sandbox)
    {
        var images = new Dictionary<int, ImageRecord>();
        for (int i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            var field = $"config.mounts[{i}]";
            if (!m.IsImage)
            {
                if (m.ImageSubPath.Length > 0)
                    throw new InvalidRequestException(field + ".image_sub_path", $"set for {m.ContainerPath}, which is not an image volume (image is empty)");
                continue;
            }
            if (m.HostPath.Length > 0)
                throw new InvalidRequestException(field + ".host_path", $"must be empty for the image volume at {m.ContainerPath} (image is set)");
            CheckSubPath(m.ImageSubPath, field + ".image_sub_path");
            if (m.Idmapped && !SameAsPod(m, sandbox))
                throw new InvalidRequestException(field + ".uid_mappings",
                    $"the image volume at {m.ContainerPath} is mapped with the pod's own user namespace; other mappings are not supported");
            images[i] = find(m.Image) ?? throw new ObjectNotFoundException($"{field}.image: image \"{m.Image}\" for the volume at {m.ContainerPath} not found: pull it first");
        }
        return images;
    }

    static bool SameAsPod(MountSpec m, PodSandbox sandbox) => sandbox.Spec.Security.Namespaces.User is { IsPod: true } pod
        && (m.UidMappings ?? []).SequenceEqual(pod.Uids ?? []) && (m.GidMappings ?? []).SequenceEqual(pod.Gids ?? []);

    static void CheckSubPath(string subPath, string field)
    {
        if (subPath.Length == 0) return;
        if (subPath.StartsWith('/'))
            throw new InvalidRequestException(field, $"\"{subPath}\" must be relative to the image's root");
        if (subPath.Contains('\0') || subPath.Split('/').Any(part => part == ".."))
            throw new InvalidRequestException(field, $"\"{subPath}\" must not contain \"..\": it must stay inside the image");
    }

    public static string VolumesDir(string bundle) => Path.Combine(bundle, "volumes");

    /// <summary>
    /// Mounts the layers (top first; idmapped clones in a pod with its own user namespace) read-only for mount
    /// <paramref name="index"/> and returns what the runtime binds: the overlay, or its sub path resolved inside it
    /// (symlinks cannot lead out), which must exist.
    /// </summary>
    public static string Mount(string bundle, int index, MountSpec mount, IReadOnlyList<string> lowersTopFirst)
    {
        var dir = VolumesDir(bundle);
        var target = Path.Combine(dir, index.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(target);
        var lowers = lowersTopFirst.ToList();
        if (lowers.Count == 1)
        {
            // Overlayfs wants two lower directories when it has no upper one; an empty one changes nothing.
            var empty = Path.Combine(dir, "empty");
            Directory.CreateDirectory(empty);
            lowers.Add(empty);
        }
        Mounts.MountOverlay(lowers, null, null, target, readOnly: true);
        if (mount.ImageSubPath.Length == 0) return target;
        var resolved = RootedPath.Resolve(target, mount.ImageSubPath);
        if (!Path.Exists(resolved))
        {
            Mounts.Unmount(target, detach: true);
            throw new InvalidRequestException($"config.mounts[{index}].image_sub_path",
                $"\"{mount.ImageSubPath}\" does not exist in image \"{mount.Image}\"");
        }
        return resolved;
    }

    /// <summary>Unmounts every image volume of the container (detached: a process still holding one keeps it).</summary>
    public static void UnmountAll(string bundle)
    {
        var dir = VolumesDir(bundle);
        if (Directory.Exists(dir)) Mounts.UnmountAllUnder(dir);
    }
}
