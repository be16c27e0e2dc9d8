using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>Size and inode counts of the file system holding a path, from statvfs(3).</summary>
public readonly record struct FileSystemSpace(ulong TotalBytes, ulong FreeBytes, ulong AvailableBytes, ulong TotalInodes, ulong FreeInodes);

/// <summary>statvfs(3): how big a file system is and how much of it is left.</summary>
public static unsafe class FileSystemSpaceReader
{
    public static FileSystemSpace Statvfs(string path)
    {
        statvfs st;
        int rc;
        fixed (byte* p = FileSystem.NullTerminated(path))
            rc = LibC.statvfs(p, &st);
        if (rc != 0) throw new LinuxException("statvfs", path, errno);
        ulong frsize = st.f_frsize != 0 ? (ulong)st.f_frsize : (ulong)st.f_bsize;
        return new FileSystemSpace((ulong)st.f_blocks * frsize, (ulong)st.f_bfree * frsize, (ulong)st.f_bavail * frsize,
            (ulong)st.f_files, (ulong)st.f_ffree);
    }
}
