using System.Collections.Concurrent;
using System.Globalization;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>
/// One epoll thread that tells <see cref="FdStream"/>s when their non-blocking descriptors are ready, so waiting
/// for a pipe or pty holds no thread-pool thread. One waiter per descriptor at a time (each stream direction has
/// a descriptor of its own); spurious wake-ups are allowed, callers retry their read or write.
/// </summary>
internal sealed unsafe class FdPoller
{
    public static readonly FdPoller Shared = new();

    readonly int _epoll;
    readonly ConcurrentDictionary<int, TaskCompletionSource> _waiters = new();
    readonly ConcurrentDictionary<int, bool> _registered = new();

    FdPoller()
    {
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        if (_epoll < 0) throw new LinuxException("epoll_create1", "", errno);
        new Thread(Loop) { IsBackground = true, Name = "fd-poller" }.Start();
    }

    /// <summary>Completes when <paramref name="fd"/> is readable (or writable), hung up, or forgotten.</summary>
    public Task WaitAsync(int fd, bool write, CancellationToken ct)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waiters.TryAdd(fd, waiter))
            throw new InvalidOperationException($"fd {fd.ToString(CultureInfo.InvariantCulture)} already has a pending wait");
        var ev = new epoll_event { events = (write ? EPOLLOUT : EPOLLIN | EPOLLRDHUP) | EPOLLONESHOT };
        ev.data.fd = fd;
        var op = _registered.ContainsKey(fd) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        var r = epoll_ctl(_epoll, op, fd, &ev);
        if (r != 0 && errno == ENOENT && op == EPOLL_CTL_MOD) r = epoll_ctl(_epoll, op = EPOLL_CTL_ADD, fd, &ev);
        else if (r != 0 && errno == EEXIST && op == EPOLL_CTL_ADD) r = epoll_ctl(_epoll, op = EPOLL_CTL_MOD, fd, &ev);
        if (r != 0)
        {
            var e = errno;
            _waiters.TryRemove(fd, out _);
            // EPERM: a descriptor epoll cannot watch (a regular file) is always ready.
            if (e == EPERM) return Task.CompletedTask;
            throw new LinuxException("epoll_ctl", "fd " + fd.ToString(CultureInfo.InvariantCulture), e);
        }
        _registered[fd] = true;
        if (ct.CanBeCanceled)
        {
            var registration = ct.Register(() =>
            {
                if (_waiters.TryRemove(new KeyValuePair<int, TaskCompletionSource>(fd, waiter))) waiter.TrySetCanceled(ct);
            });
            waiter.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return waiter.Task;
    }

    /// <summary>Before <paramref name="fd"/> is closed: stops watching it and wakes its waiter.</summary>
    public void Forget(int fd)
    {
        if (_registered.TryRemove(fd, out _)) epoll_ctl(_epoll, EPOLL_CTL_DEL, fd, null);
        if (_waiters.TryRemove(fd, out var waiter)) waiter.TrySetResult();
    }

    void Loop()
    {
        const int max = 64;
        var events = stackalloc epoll_event[max];
        while (true)
        {
            var n = epoll_wait(_epoll, events, max, -1);
            if (n < 0)
            {
                if (errno == EINTR) continue;
                return;
            }
            for (var i = 0; i < n; i++)
                if (_waiters.TryRemove(events[i].data.fd, out var waiter)) waiter.TrySetResult();
        }
    }
}
