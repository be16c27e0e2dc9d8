using System.Globalization;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>
/// The unix socket an OCI runtime's `--console-socket` connects to: the runtime sends the pty master of the
/// process it starts as an SCM_RIGHTS message (runc's and crun's console-socket protocol).
/// </summary>
public sealed unsafe class ConsoleSocket : IDisposable
{
    int _fd;

    public string Path { get; }

    ConsoleSocket(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>Binds and listens on <paramref name="path"/> (mode 0600; an existing file there is replaced).</summary>
    public static ConsoleSocket Listen(string path)
    {
        var addr = UnixAddress(path);
        var fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw new LinuxException("socket(AF_UNIX)", path, errno);
        try
        {
            File.Delete(path);
            fixed (byte* a = addr)
                if (bind(fd, (sockaddr*)a, (uint)addr.Length) != 0) throw new LinuxException("bind", path, errno);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (listen(fd, 1) != 0) throw new LinuxException("listen", path, errno);
            return new ConsoleSocket(fd, path);
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    /// <summary>
    /// Waits (on a dedicated thread) for the runtime to connect and send a descriptor; returns it (close-on-exec).
    /// Cancelling <paramref name="ct"/> (e.g. because the runtime exited) abandons the wait.
    /// </summary>
    public Task<int> ReceiveAsync(CancellationToken ct) =>
        Task.Factory.StartNew(() => Receive(ct), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    int Receive(CancellationToken ct)
    {
        WaitReadable(_fd, ct);
        var conn = accept4(_fd, null, null, SOCK_CLOEXEC);
        if (conn < 0) throw new LinuxException("accept4", Path, errno);
        try
        {
            WaitReadable(conn, ct);
            return ReceiveFd(conn, Path);
        }
        finally
        {
            close(conn);
        }
    }

    /// <summary>recvmsg one SCM_RIGHTS descriptor from a connected unix socket; extra descriptors are closed.</summary>
    public static int ReceiveFd(int socketFd, string what)
    {
        var data = stackalloc byte[256];
        const int controlSize = 256;
        var control = stackalloc byte[controlSize];
        var iov = new iovec { iov_base = data, iov_len = 256 };
        var msg = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = controlSize };
        long n;
        do
        {
            n = recvmsg(socketFd, &msg, MSG_CMSG_CLOEXEC);
        } while (n < 0 && errno == EINTR);
        if (n < 0) throw new LinuxException("recvmsg", what, errno);
        var received = -1;
        for (var c = CMSG_FIRSTHDR(&msg); c != null; c = CMSG_NXTHDR(&msg, c))
        {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            var count = (int)((c->cmsg_len - (uint)((byte*)CMSG_DATA(c) - (byte*)c)) / sizeof(int));
            var fds = (int*)CMSG_DATA(c);
            for (var i = 0; i < count; i++)
            {
                if (received < 0) received = fds[i];
                else close(fds[i]);
            }
        }
        if (received < 0)
            throw new LinuxException("recvmsg", $"{what}: no descriptor in the message ({n} bytes)", EPROTO);
        return received;
    }

    static void WaitReadable(int fd, CancellationToken ct)
    {
        var p = new pollfd { fd = fd, events = (short)POLLIN };
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var r = poll(&p, 1, 100);
            if (r > 0) return;
            if (r < 0 && errno != EINTR) throw new LinuxException("poll", "fd " + fd.ToString(CultureInfo.InvariantCulture), errno);
        }
    }

    /// <summary>A sockaddr_un for <paramref name="path"/> (at most 107 bytes).</summary>
    internal static byte[] UnixAddress(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length > 107) throw new LinuxException("bind", path, ENAMETOOLONG);
        var addr = new byte[2 + 108];
        addr[0] = (byte)AF_UNIX;
        bytes.CopyTo(addr, 2);
        return addr;
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd < 0) return;
        close(fd);
        try { File.Delete(Path); } catch (IOException) { }
    }
}
