using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>
/// Idmapped bind mounts through the new mount API (open_tree, mount_setattr with MOUNT_ATTR_IDMAP, move_mount):
/// a clone of a directory or file whose owners appear translated through a user namespace's mapping, without
/// touching the inodes. Tmds.LibC 0.5.0 has none of these calls, so they go through its syscall(2); their numbers
/// are the same on every architecture (they were added after the syscall tables were unified).
/// </summary>
public static unsafe class IdmappedMounts
{
    const int SysOpenTree = 428, SysMoveMount = 429, SysMountSetattr = 442;
    const int OpenTreeClone = 1, OpenTreeCloexec = 0x80000; // OPEN_TREE_CLONE, O_CLOEXEC
    const int AtRecursive = 0x8000, AtEmptyPath = 0x1000, AtFdCwd = -100;
    const int MoveMountFEmptyPath = 0x4;
    const ulong MountAttrIdmap = 0x00100000;

    /// <summary>struct mount_attr (linux/mount.h), 32 bytes.</summary>
    struct MountAttr
    {
        public ulong AttrSet, AttrClr, Propagation, UsernsFd;
    }

    /// <summary>
    /// Mounts a clone of <paramref name="source"/> (a directory or a file) at <paramref name="target"/>, idmapped
    /// through the user namespace whose nsfs file is <paramref name="userNamespacePath"/> (a pinned namespace or
    /// /proc/PID/ns/user). <paramref name="recursive"/> clones and idmaps the submounts too. A file system that
    /// cannot be idmapped fails with EINVAL from mount_setattr, naming the source.
    /// </summary>
    public static void BindIdmapped(string source, string target, string userNamespacePath, bool recursive = false)
    {
        int ns = OpenReadOnly(userNamespacePath);
        try
        {
            int tree = OpenTree(source, recursive);
            try
            {
                SetIdmap(tree, ns, recursive, source);
                long rc;
                fixed (byte* empty = FileSystem.NullTerminated(""))
                fixed (byte* t = FileSystem.NullTerminated(target))
                    rc = (long)syscall(SysMoveMount, tree, (void*)empty, AtFdCwd, (void*)t, MoveMountFEmptyPath);
                if (rc != 0) throw new LinuxException("move_mount", target, errno);
            }
            finally { close(tree); }
        }
        finally { close(ns); }
    }

    /// <summary>
    /// Whether <paramref name="path"/>'s file system takes an idmapped mount: a detached clone is idmapped and
    /// dropped again, nothing is attached anywhere. Returns null when it works, else the reason.
    /// </summary>
    public static string? Probe(string path, string userNamespacePath)
    {
        try
        {
            int ns = OpenReadOnly(userNamespacePath);
            try
            {
                int tree = OpenTree(path, recursive: false);
                try { SetIdmap(tree, ns, recursive: false, path); }
                finally { close(tree); }
            }
            finally { close(ns); }
            return null;
        }
        catch (LinuxException e)
        {
            return e.Message;
        }
    }

    static int OpenTree(string path, bool recursive)
    {
        long fd;
        fixed (byte* p = FileSystem.NullTerminated(path))
            fd = (long)syscall(SysOpenTree, AtFdCwd, (void*)p, OpenTreeClone | OpenTreeCloexec | (recursive ? AtRecursive : 0));
        if (fd < 0) throw new LinuxException("open_tree(OPEN_TREE_CLONE)", path, errno);
        return (int)fd;
    }

    static void SetIdmap(int tree, int userns, bool recursive, string what)
    {
        var attr = new MountAttr { AttrSet = MountAttrIdmap, UsernsFd = (ulong)userns };
        long rc;
        fixed (byte* empty = FileSystem.NullTerminated(""))
            rc = (long)syscall(SysMountSetattr, tree, (void*)empty, AtEmptyPath | (recursive ? AtRecursive : 0), (void*)&attr, (size_t)(ulong)sizeof(MountAttr));
        if (rc != 0) throw new LinuxException("mount_setattr(MOUNT_ATTR_IDMAP)", what, errno);
    }

    static int OpenReadOnly(string path)
    {
        int fd;
        fixed (byte* p = FileSystem.NullTerminated(path))
            fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw new LinuxException("open", path, errno);
        return fd;
    }
}
