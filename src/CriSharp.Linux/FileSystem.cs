using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>The kind of a file-system entry, from lstat(2).</summary>
public enum FileKind { Missing, Regular, Directory, Symlink, Socket, Fifo, CharDevice, BlockDevice }

/// <summary>File-system calls that .NET does not expose.</summary>
public static unsafe class FileSystem
{
    /// <summary>The kind of the entry at <paramref name="path"/>, without following a final symlink.</summary>
    public static FileKind GetKind(string path)
    {
        stat st;
        int rc;
        fixed (byte* p = NullTerminated(path))
            rc = lstat(p, &st);
        if (rc != 0)
        {
            var errno = Tmds.Linux.LibC.errno;
            if (errno == ENOENT || errno == ENOTDIR) return FileKind.Missing;
            throw new LinuxException("lstat", path, errno);
        }
        var fmt = (uint)(st.st_mode & S_IFMT);
        if (fmt == (uint)S_IFREG) return FileKind.Regular;
        if (fmt == (uint)S_IFDIR) return FileKind.Directory;
        if (fmt == (uint)S_IFLNK) return FileKind.Symlink;
        if (fmt == (uint)S_IFSOCK) return FileKind.Socket;
        if (fmt == (uint)S_IFIFO) return FileKind.Fifo;
        if (fmt == (uint)S_IFCHR) return FileKind.CharDevice;
        return FileKind.BlockDevice;
    }

    /// <summary>fsync(2) on a directory, so a rename or unlink in it survives a crash.</summary>
    public static void FsyncDirectory(string path)
    {
        int fd;
        fixed (byte* p = NullTerminated(path))
            fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw new LinuxException("open", path, Tmds.Linux.LibC.errno);
        try
        {
            if (fsync(fd) != 0) throw new LinuxException("fsync", path, Tmds.Linux.LibC.errno);
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>open(2) of a directory, O_RDONLY|O_DIRECTORY|O_CLOEXEC; the caller closes the descriptor (<see cref="Pipes.Close"/>).</summary>
    public static int OpenDirectory(string path)
    {
        int fd;
        fixed (byte* p = NullTerminated(path))
            fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw new LinuxException("open", path, Tmds.Linux.LibC.errno);
        return fd;
    }

    internal static byte[] NullTerminated(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
