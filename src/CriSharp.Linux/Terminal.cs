using System.Globalization;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>Pseudo-terminals: open a pair, size them (TIOCSWINSZ), put one in raw mode.</summary>
public static unsafe class Terminal
{
    /// <summary>Opens /dev/ptmx and unlocks the slave: the master fd (close-on-exec) and the slave's path.</summary>
    public static (int MasterFd, string SlavePath) OpenPty()
    {
        int fd;
        fixed (byte* p = "/dev/ptmx\0"u8)
            fd = open(p, O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
        if (fd < 0) throw new LinuxException("open", "/dev/ptmx", errno);
        try
        {
            int unlock = 0;
            if (ioctl(fd, TIOCSPTLCK, &unlock) != 0) throw new LinuxException("ioctl(TIOCSPTLCK)", "/dev/ptmx", errno);
            int n;
            if (ioctl(fd, TIOCGPTN, &n) != 0) throw new LinuxException("ioctl(TIOCGPTN)", "/dev/ptmx", errno);
            return (fd, "/dev/pts/" + n.ToString(CultureInfo.InvariantCulture));
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    /// <summary>TIOCSWINSZ: the kernel tells the terminal's foreground process group with SIGWINCH.</summary>
    public static void SetWindowSize(int fd, ushort rows, ushort columns)
    {
        var ws = new winsize { ws_row = rows, ws_col = columns };
        if (ioctl(fd, TIOCSWINSZ, &ws) != 0) throw new LinuxException("ioctl(TIOCSWINSZ)", Fd(fd), errno);
    }

    /// <summary>TIOCGWINSZ: (rows, columns).</summary>
    public static (ushort Rows, ushort Columns) GetWindowSize(int fd)
    {
        winsize ws;
        if (ioctl(fd, TIOCGWINSZ, &ws) != 0) throw new LinuxException("ioctl(TIOCGWINSZ)", Fd(fd), errno);
        return (ws.ws_row, ws.ws_col);
    }

    /// <summary>Opens a pty slave (close-on-exec, never as our controlling terminal).</summary>
    public static int OpenSlave(string path)
    {
        int fd;
        fixed (byte* p = FileSystem.NullTerminated(path))
            fd = open(p, O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
        if (fd < 0) throw new LinuxException("open", path, errno);
        return fd;
    }

    /// <summary>cfmakeraw on the terminal <paramref name="fd"/>: no echo, no line editing, no signals, 8-bit.</summary>
    public static void MakeRaw(int fd)
    {
        termios t;
        if (tcgetattr(fd, &t) != 0) throw new LinuxException("tcgetattr", Fd(fd), errno);
        t.c_iflag &= ~(uint)(0x1 | 0x2 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x400); // IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON
        t.c_oflag &= ~1u; // OPOST
        t.c_lflag &= ~(uint)(0x8 | 0x40 | 0x2 | 0x1 | 0x8000); // ECHO ECHONL ICANON ISIG IEXTEN
        t.c_cflag = (t.c_cflag & ~(uint)(0x30 | 0x100)) | 0x30; // CSIZE PARENB off, CS8
        if (tcsetattr(fd, 0 /* TCSANOW */, &t) != 0) throw new LinuxException("tcsetattr", Fd(fd), errno);
    }

    /// <summary>dup(2) with close-on-exec, e.g. a second handle for writing to a pty master while another reads.</summary>
    public static int Duplicate(int fd)
    {
        var copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) throw new LinuxException("fcntl(F_DUPFD_CLOEXEC)", Fd(fd), errno);
        return copy;
    }

    static string Fd(int fd) => "fd " + fd.ToString(CultureInfo.InvariantCulture);
}
