using System.Globalization;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>
/// A stream over a pipe or pty descriptor, made non-blocking: async reads and writes wait on the shared epoll
/// thread (<see cref="FdPoller"/>), holding no thread while idle, and cancelling or disposing the stream ends a
/// pending read even while another process keeps the other end open (a blocked read(2) would pin its thread
/// until that process lets go). A pty master's EIO (its slave side hung up) reads as EOF. Give each direction
/// its own descriptor (dup) when both are used at once.
/// </summary>
public sealed class FdStream : Stream
{
    const int SliceMs = 100;
    int _fd;
    readonly bool _owns;
    readonly bool _canRead, _canWrite;

    public FdStream(int fd, FileAccess access, bool ownsFd = true)
    {
        _fd = fd;
        _owns = ownsFd;
        _canRead = access.HasFlag(FileAccess.Read);
        _canWrite = access.HasFlag(FileAccess.Write);
        var flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
            throw new LinuxException("fcntl(O_NONBLOCK)", "fd " + fd.ToString(CultureInfo.InvariantCulture), errno);
    }

    public int Fd => _fd;
    public override bool CanRead => _canRead && _fd >= 0;
    public override bool CanWrite => _canWrite && _fd >= 0;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => ReadCore(buffer, CancellationToken.None);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (!_canRead) throw new NotSupportedException("write-only stream");
        if (buffer.Length == 0) return 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var fd = _fd;
            if (fd < 0) return 0; // disposed
            var n = TryRead(fd, buffer.Span);
            if (n >= 0) return n;
            await FdPoller.Shared.WaitAsync(fd, write: false, ct).ConfigureAwait(false);
        }
    }

    int ReadCore(Span<byte> buffer, CancellationToken ct)
    {
        if (!_canRead) throw new NotSupportedException("write-only stream");
        if (buffer.Length == 0) return 0;
        while (true)
        {
            var fd = WaitFor((short)POLLIN, ct);
            if (fd < 0) return 0; // disposed meanwhile
            var n = TryRead(fd, buffer);
            if (n >= 0) return n;
        }
    }

    /// <summary>read(2) once: bytes read, 0 at EOF (or a pty's EIO, or disposed), -1 when it would block.</summary>
    unsafe int TryRead(int fd, Span<byte> buffer)
    {
        while (true)
        {
            long n;
            fixed (byte* p = buffer)
                n = read(fd, p, (size_t)(ulong)buffer.Length);
            if (n >= 0) return (int)n;
            var e = errno;
            if (e == EINTR) continue;
            if (e == EAGAIN) return -1;
            if (e == EIO) return 0; // pty master: no slave left
            if (e == EBADF && _fd < 0) return 0;
            throw new IOException($"read fd {fd.ToString(CultureInfo.InvariantCulture)}: {new LinuxException("read", "", e).Message}");
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer) => WriteCore(buffer, CancellationToken.None);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        if (!_canWrite) throw new NotSupportedException("read-only stream");
        while (!buffer.IsEmpty)
        {
            ct.ThrowIfCancellationRequested();
            var fd = _fd;
            if (fd < 0) throw new ObjectDisposedException(nameof(FdStream));
            var n = TryWrite(fd, buffer.Span);
            if (n >= 0) buffer = buffer[n..];
            else await FdPoller.Shared.WaitAsync(fd, write: true, ct).ConfigureAwait(false);
        }
    }

    void WriteCore(ReadOnlySpan<byte> buffer, CancellationToken ct)
    {
        if (!_canWrite) throw new NotSupportedException("read-only stream");
        while (!buffer.IsEmpty)
        {
            var fd = WaitFor((short)POLLOUT, ct);
            if (fd < 0) throw new ObjectDisposedException(nameof(FdStream));
            var n = TryWrite(fd, buffer);
            if (n > 0) buffer = buffer[n..];
        }
    }

    /// <summary>write(2) once: bytes written, or -1 when it would block.</summary>
    static unsafe int TryWrite(int fd, ReadOnlySpan<byte> buffer)
    {
        while (true)
        {
            long n;
            fixed (byte* p = buffer)
                n = write(fd, p, (size_t)(ulong)buffer.Length);
            if (n >= 0) return (int)n;
            var e = errno;
            if (e == EINTR) continue;
            if (e == EAGAIN) return -1;
            throw new IOException($"write fd {fd.ToString(CultureInfo.InvariantCulture)}: {new LinuxException("write", "", e).Message}");
        }
    }

    /// <summary>Polls in slices until the descriptor is ready (or hung up); -1 once disposed.</summary>
    unsafe int WaitFor(short events, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var fd = _fd;
            if (fd < 0) return -1;
            var p = new pollfd { fd = fd, events = events };
            var r = poll(&p, 1, SliceMs);
            if (r > 0) return fd;
            if (r < 0 && errno != EINTR)
            {
                if (_fd < 0) return -1;
                throw new IOException($"poll fd {fd.ToString(CultureInfo.InvariantCulture)}: {new LinuxException("poll", "", errno).Message}");
            }
        }
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            // A pending async read wakes and sees the stream disposed; a sync one notices within a poll slice.
            FdPoller.Shared.Forget(fd);
            if (_owns) close(fd);
        }
        base.Dispose(disposing);
    }
}
