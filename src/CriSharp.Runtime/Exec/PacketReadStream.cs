using System.Threading.Channels;

namespace CriSharp.Runtime.Exec;

/// <summary>
/// A read-only stream fed by a producer that must never block (conmon's attach socket: a stalled reader would
/// stall conmon, and with it the container's logging). Up to <c>limit</c> bytes wait for the reader; beyond that
/// new data is dropped, as a slow attach client loses output rather than slowing the container.
/// </summary>
sealed class PacketReadStream(long limit = 8 * 1024 * 1024) : Stream
{
    readonly Channel<ReadOnlyMemory<byte>> _packets = Channel.CreateUnbounded<ReadOnlyMemory<byte>>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    ReadOnlyMemory<byte> _current;
    long _pending;

    /// <summary>Queues a copy of <paramref name="data"/>; false when it was dropped.</summary>
    public bool Post(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return true;
        if (Interlocked.Read(ref _pending) + data.Length > limit) return false;
        Interlocked.Add(ref _pending, data.Length);
        return _packets.Writer.TryWrite(data.ToArray());
    }

    /// <summary>No more data: the reader sees EOF after what is queued.</summary>
    public void Complete() => _packets.Writer.TryComplete();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.Length == 0) return 0;
        while (_current.IsEmpty)
        {
            try
            {
                _current = await _packets.Reader.ReadAsync(ct).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return 0;
            }
        }
        var n = Math.Min(buffer.Length, _current.Length);
        _current.Span[..n].CopyTo(buffer.Span);
        _current = _current[n..];
        Interlocked.Add(ref _pending, -n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        Complete();
        base.Dispose(disposing);
    }
}
