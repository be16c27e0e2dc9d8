using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>The kind of special file <see cref="FileMetadata.Mknod"/> creates.</summary>
public enum SpecialFileKind { CharDevice, BlockDevice, Fifo }

/// <summary>A point in time as the kernel stores it: seconds since the epoch plus nanoseconds.</summary>
public readonly record struct UnixTime(long Seconds, int Nanoseconds)
{
    public static UnixTime FromDateTimeOffset(DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        return new(Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rest) - (rest < 0 ? 1 : 0),
                   (int)((rest < 0 ? rest + TimeSpan.TicksPerSecond : rest) * 100));
    }

    public DateTimeOffset ToDateTimeOffset() =>
        DateTimeOffset.UnixEpoch.AddTicks(Seconds * TimeSpan.TicksPerSecond + Nanoseconds / 100);
}

/// <summary>What lstat(2) says about an entry; <see cref="Mode"/> holds the 12 permission bits only.</summary>
public readonly record struct FileStatus(
    FileKind Kind, int Mode, uint Uid, uint Gid, uint DeviceMajor, uint DeviceMinor,
    ulong Inode, ulong LinkCount, long Size, UnixTime ModificationTime);

/// <summary>Ownership, modes, times, links, device nodes and extended attributes, none following a final symlink.</summary>
public static unsafe class FileMetadata
{
    /// <summary>lstat(2): the entry itself, a final symlink not followed.</summary>
    public static FileStatus Lstat(string path)
    {
        stat st;
        int rc;
        fixed (byte* p = FileSystem.NullTerminated(path))
            rc = lstat(p, &st);
        if (rc != 0) throw new LinuxException("lstat", path, errno);
        var mode = (uint)(ushort)st.st_mode;
        var kind = (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0xA000 => FileKind.Symlink,
            0xC000 => FileKind.Socket,
            0x1000 => FileKind.Fifo,
            0x2000 => FileKind.CharDevice,
            _ => FileKind.BlockDevice,
        };
        ulong rdev = st.st_rdev;
        return new FileStatus(
            kind, (int)(mode & 0xFFF), st.st_uid, st.st_gid,
            (uint)(((rdev >> 32) & 0xFFFFF000) | ((rdev >> 8) & 0xFFF)),
            (uint)(((rdev >> 12) & 0xFFFFFF00) | (rdev & 0xFF)),
            (ulong)st.st_ino, (ulong)st.st_nlink, (long)st.st_size,
            new UnixTime(st.st_mtim.tv_sec, (int)st.st_mtim.tv_nsec));
    }

    /// <summary>lchown(2): sets numeric owner and group of the entry itself (a symlink is not followed).</summary>
    public static void Lchown(string path, uint uid, uint gid)
    {
        int rc;
        fixed (byte* p = FileSystem.NullTerminated(path))
            rc = lchown(p, uid, gid);
        if (rc != 0) throw new LinuxException("lchown", path, errno);
    }

    /// <summary>chmod(2) with all 12 permission bits (setuid, setgid, sticky included); follows symlinks, so never call it on one.</summary>
    public static void Chmod(string path, int mode)
    {
        int rc;
        fixed (byte* p = FileSystem.NullTerminated(path))
            rc = chmod(p, (mode_t)(ushort)(mode & 0xFFF));
        if (rc != 0) throw new LinuxException("chmod", path, errno);
    }

    /// <summary>mknod(2) for a device node or FIFO; <paramref name="mode"/> is the permission bits only.</summary>
    public static void Mknod(string path, SpecialFileKind kind, int mode, uint major, uint minor)
    {
        var type = kind switch
        {
            SpecialFileKind.CharDevice => S_IFCHR,
            SpecialFileKind.BlockDevice => S_IFBLK,
            _ => S_IFIFO,
        };
        int rc;
        fixed (byte* p = FileSystem.NullTerminated(path))
            rc = mknod(p, type | (mode_t)(ushort)(mode & 0xFFF), MakeDev(major, minor));
        if (rc != 0) throw new LinuxException("mknod", path, errno);
    }

    /// <summary>glibc's makedev(3) encoding (a macro, so Tmds.LibC cannot export it).</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) |
        ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);

    /// <summary>linkat(2) without AT_SYMLINK_FOLLOW: a hard link to <paramref name="existing"/> itself, even when it is a symlink.</summary>
    public static void Link(string existing, string newPath)
    {
        int rc;
        fixed (byte* from = FileSystem.NullTerminated(existing))
        fixed (byte* to = FileSystem.NullTerminated(newPath))
            rc = linkat(AT_FDCWD, from, AT_FDCWD, to, 0);
        if (rc != 0) throw new LinuxException("link", $"{newPath} -> {existing}", errno);
    }

    /// <summary>utimensat(2) with nanosecond precision; with <paramref name="noFollow"/> a symlink's own times are set.</summary>
    public static void SetTimes(string path, UnixTime accessTime, UnixTime modificationTime, bool noFollow = true)
    {
        var times = stackalloc timespec[2];
        times[0].tv_sec = accessTime.Seconds;
        times[0].tv_nsec = accessTime.Nanoseconds;
        times[1].tv_sec = modificationTime.Seconds;
        times[1].tv_nsec = modificationTime.Nanoseconds;
        int rc;
        fixed (byte* p = FileSystem.NullTerminated(path))
            rc = utimensat(AT_FDCWD, p, times, noFollow ? AT_SYMLINK_NOFOLLOW : 0);
        if (rc != 0) throw new LinuxException("utimensat", path, errno);
    }

    /// <summary>syncfs(2) on the file system holding <paramref name="path"/>: one flush for everything just written there.</summary>
    public static void Syncfs(string path)
    {
        int fd;
        fixed (byte* p = FileSystem.NullTerminated(path))
            fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw new LinuxException("open", path, errno);
        try
        {
            if (syncfs(fd) != 0) throw new LinuxException("syncfs", path, errno);
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>lsetxattr(2): sets an extended attribute on the entry itself.</summary>
    public static void Lsetxattr(string path, string name, ReadOnlySpan<byte> value)
    {
        long rc;
        fixed (byte* p = FileSystem.NullTerminated(path))
        fixed (byte* n = FileSystem.NullTerminated(name))
        fixed (byte* v = value)
            rc = (ssize_t)syscall(Xattr.Set, (void*)p, (void*)n, (void*)v, (size_t)(ulong)value.Length, 0);
        if (rc != 0) throw new LinuxException("lsetxattr", $"{path} {name}", errno);
    }

    /// <summary>lgetxattr(2): the attribute's value, or null when the entry does not have it.</summary>
    public static byte[]? Lgetxattr(string path, string name)
    {
        var pathBytes = FileSystem.NullTerminated(path);
        var nameBytes = FileSystem.NullTerminated(name);
        while (true)
        {
            long size;
            fixed (byte* p = pathBytes)
            fixed (byte* n = nameBytes)
                size = (ssize_t)syscall(Xattr.Get, (void*)p, (void*)n, (void*)null, 0);
            if (size < 0) return errno == ENODATA ? null : throw new LinuxException("lgetxattr", $"{path} {name}", errno);
            var value = new byte[size];
            fixed (byte* p = pathBytes)
            fixed (byte* n = nameBytes)
            fixed (byte* v = value)
                size = (ssize_t)syscall(Xattr.Get, (void*)p, (void*)n, (void*)v, (size_t)(ulong)value.Length);
            if (size >= 0) return size == value.Length ? value : value[..(int)size];
            // ERANGE: the value grew between the two calls; ask again.
            if (errno != ERANGE) return errno == ENODATA ? null : throw new LinuxException("lgetxattr", $"{path} {name}", errno);
        }
    }

    /// <summary>llistxattr(2): the names of the entry's extended attributes.</summary>
    public static IReadOnlyList<string> Llistxattr(string path)
    {
        var pathBytes = FileSystem.NullTerminated(path);
        while (true)
        {
            long size;
            fixed (byte* p = pathBytes)
                size = (ssize_t)syscall(Xattr.List, (void*)p, (void*)null, 0);
            if (size < 0) throw new LinuxException("llistxattr", path, errno);
            var names = new byte[size];
            fixed (byte* p = pathBytes)
            fixed (byte* v = names)
                size = (ssize_t)syscall(Xattr.List, (void*)p, (void*)v, (size_t)(ulong)names.Length);
            if (size >= 0)
                return Encoding.UTF8.GetString(names, 0, (int)size).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            if (errno != ERANGE) throw new LinuxException("llistxattr", path, errno);
        }
    }

    /// <summary>
    /// Tmds.LibC 0.5.0 has no xattr functions, so they go through its syscall(2) with the
    /// kernel's numbers for the three architectures Tmds.LibC ships for.
    /// </summary>
    static class Xattr
    {
        public static readonly int Set, Get, List;

        static Xattr() =>
            (Set, Get, List) = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => (189, 192, 195),
                Architecture.Arm64 => (6, 9, 12),
                Architecture.Arm => (227, 230, 233),
                var other => throw new PlatformNotSupportedException($"xattr syscalls on {other}"),
            };
    }
}
