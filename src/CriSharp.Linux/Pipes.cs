using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>Pipes, FIFOs and file-descriptor flags: what a parent needs to hand a pipe end to a child such as conmon.</summary>
public static unsafe class Pipes
{
    /// <summary>pipe2(2) with O_CLOEXEC on both ends, so no unrelated child inherits them by accident.</summary>
    public static (int ReadFd, int WriteFd) Create()
    {
        var fds = stackalloc int[2];
        if (pipe2(fds, O_CLOEXEC) != 0) throw new LinuxException("pipe2", "", errno);
        return (fds[0], fds[1]);
    }

    /// <summary>Clears (or sets) FD_CLOEXEC, making <paramref name="fd"/> survive (or not) the next exec.</summary>
    public static void SetInheritable(int fd, bool inheritable)
    {
        var flags = fcntl(fd, F_GETFD, 0);
        if (flags < 0) throw new LinuxException("fcntl(F_GETFD)", Fd(fd), errno);
        flags = inheritable ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC;
        if (fcntl(fd, F_SETFD, flags) != 0) throw new LinuxException("fcntl(F_SETFD)", Fd(fd), errno);
    }

    /// <summary>Whether FD_CLOEXEC is clear on <paramref name="fd"/>.</summary>
    public static bool IsInheritable(int fd)
    {
        var flags = fcntl(fd, F_GETFD, 0);
        if (flags < 0) throw new LinuxException("fcntl(F_GETFD)", Fd(fd), errno);
        return (flags & FD_CLOEXEC) == 0;
    }

    /// <summary>close(2); a descriptor that is already closed (EBADF) is ignored.</summary>
    public static void Close(int fd)
    {
        if (fd < 0) return;
        if (close(fd) != 0 && errno != EBADF && errno != EINTR) throw new LinuxException("close", Fd(fd), errno);
    }

    /// <summary>
    /// Writes <paramref name="data"/> to a FIFO opened O_NONBLOCK, so a FIFO whose reader is gone never blocks:
    /// false when the FIFO is missing or nobody has it open for reading (ENOENT/ENXIO).
    /// </summary>
    public static bool TryWriteFifo(string path, ReadOnlySpan<byte> data)
    {
        int fd;
        fixed (byte* p = FileSystem.NullTerminated(path))
            fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
        {
            var e = errno;
            if (e == ENXIO || e == ENOENT) return false;
            throw new LinuxException("open", path, e);
        }
        try
        {
            fixed (byte* d = data)
            {
                var done = 0;
                while (done < data.Length)
                {
                    var n = (long)write(fd, d + done, (size_t)(ulong)(data.Length - done));
                    if (n < 0)
                    {
                        if (errno == EINTR) continue;
                        throw new LinuxException("write", path, errno);
                    }
                    done += (int)n;
                }
            }
            return true;
        }
        finally
        {
            close(fd);
        }
    }

    static string Fd(int fd) => "fd " + fd.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Marks every descriptor above stderr close-on-exec. Descriptors inherited from whoever started us
    /// (a shell, a test runner, systemd) would otherwise leak through conmon into containers.
    /// Returns how many were changed.
    /// </summary>
    public static int MarkInheritedCloseOnExec()
    {
        var changed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var fd) || fd <= 2) continue;
            try
            {
                if (IsInheritable(fd))
                {
                    SetInheritable(fd, false);
                    changed++;
                }
            }
            catch (LinuxException)
            {
                // The descriptor that listed /proc/self/fd is already closed again: nothing to do.
            }
        }
        return changed;
    }
}

