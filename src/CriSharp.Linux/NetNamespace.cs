using System.Net;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>Network namespaces: connections opened from inside a pod's namespace.</summary>
public static unsafe class NetNamespace
{
    /// <summary>
    /// A TCP connection to localhost:<paramref name="port"/> (127.0.0.1, then ::1) inside the network namespace
    /// pinned at <paramref name="netnsPath"/>; returns the connected socket's fd (close-on-exec). A socket keeps
    /// its namespace for life, so the thread that entered the namespace to create it simply ends afterwards:
    /// it is never reused for anything else.
    /// </summary>
    public static Task<int> ConnectLoopbackAsync(string netnsPath, int port)
    {
        if (port is <= 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(port), port, "not a TCP port");
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Enter(netnsPath);
                done.TrySetResult(ConnectLoopback(port));
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "netns-dial",
        };
        thread.Start();
        return done.Task;
    }

    static void Enter(string netnsPath)
    {
        int ns;
        fixed (byte* p = FileSystem.NullTerminated(netnsPath))
            ns = open(p, O_RDONLY | O_CLOEXEC, 0);
        if (ns < 0) throw new LinuxException("open", netnsPath, errno);
        try
        {
            if (setns(ns, CLONE_NEWNET) != 0) throw new LinuxException("setns(CLONE_NEWNET)", netnsPath, errno);
        }
        finally
        {
            close(ns);
        }
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>, or [::1]:port when IPv4 is refused, in the calling thread's namespace.</summary>
    public static int ConnectLoopback(int port)
    {
        try
        {
            return Connect(AF_INET, IPAddress.Loopback, port);
        }
        catch (LinuxException e) when (e.Errno is var n && (n == ECONNREFUSED || n == EADDRNOTAVAIL || n == ENETUNREACH))
        {
            try
            {
                return Connect(AF_INET6, IPAddress.IPv6Loopback, port);
            }
            catch (LinuxException)
            {
                throw e;
            }
        }
    }

    static int Connect(int family, IPAddress address, int port)
    {
        var fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        var target = $"{(family == AF_INET6 ? $"[{address}]" : address.ToString())}:{port}";
        if (fd < 0) throw new LinuxException("socket", target, errno);
        var addr = new byte[family == AF_INET6 ? 28 : 16];
        addr[0] = (byte)family;
        addr[2] = (byte)(port >> 8);
        addr[3] = (byte)port;
        address.GetAddressBytes().CopyTo(addr, family == AF_INET6 ? 8 : 4);
        int r;
        fixed (byte* a = addr)
        {
            do
            {
                r = connect(fd, (sockaddr*)a, (uint)addr.Length);
            } while (r != 0 && errno == EINTR);
        }
        if (r != 0)
        {
            var e = errno;
            close(fd);
            throw new LinuxException("connect", target, e);
        }
        return fd;
    }
}
