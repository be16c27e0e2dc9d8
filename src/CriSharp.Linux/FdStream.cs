using System.Globalization;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>
/// A stream over a pipe or pty descriptor whose reads and writes wait with poll(2) in short slices, so cancelling
/// or disposing it ends a pending read even while another process keeps the other end open (a blocked read(2)
/// would pin its thread until that process lets go). A pty master's EIO (its slave side hung up) reads as EOF.
/// </summary>
public sealed unsafe class FdStream : Stream
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

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
        new(Task.Run(() => ReadCore(buffer.Span, ct), CancellationToken.None));

    int ReadCore(Span<byte> buffer, CancellationToken ct)
    {
        if (!_canRead) throw new NotSupportedException("write-only stream");
        if (buffer.Length == 0) return 0;
        while (true)
        {
            var fd = WaitFor((short)POLLIN, ct);
            if (fd < 0) return 0; // disposed meanwhile
            long n;
            fixed (byte* p = buffer)
                n = read(fd, p, (size_t)(ulong)buffer.Length);
            if (n >= 0) return (int)n;
            var e = errno;
            if (e == EINTR || e == EAGAIN) continue;
            if (e == EIO) return 0; // pty master: no slave left
            if (e == EBADF && _fd < 0) return 0;
            throw new IOException($"read fd {fd.ToString(CultureInfo.InvariantCulture)}: {new LinuxException("read", "", e).Message}");
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer) => WriteCore(buffer, CancellationToken.None);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) =>
        new(Task.Run(() => WriteCore(buffer.Span, ct), CancellationToken.None));

    void WriteCore(ReadOnlySpan<byte> buffer, CancellationToken ct)
    {
        if (!_canWrite) throw new NotSupportedException("read-only stream");
        var done = 0;
        while (done < buffer.Length)
        {
            var fd = WaitFor((short)POLLOUT, ct);
            if (fd < 0) throw new ObjectDisposedException(nameof(FdStream));
            long n;
            fixed (byte* p = buffer[done..])
                n = write(fd, p, (size_t)(ulong)(buffer.Length - done));
            if (n >= 0)
            {
                done += (int)n;
                continue;
            }
            var e = errno;
            if (e == EINTR || e == EAGAIN) continue;
            throw new IOException($"write fd {fd.ToString(CultureInfo.InvariantCulture)}: {new LinuxException("write", "", e).Message}");
        }
    }

    /// <summary>Polls in slices until the descriptor is ready (or hung up); -1 once disposed.</summary>
    int WaitFor(short events, CancellationToken ct)
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
        // A read polling this fd notices within one slice; closing it under a poll in progress is harmless.
        if (fd >= 0 && _owns) close(fd);
        base.Dispose(disposing);
    }
}
