using System.Buffers;
using System.IO.Pipelines;

namespace CriSharp.Streaming.Spdy;

/// <summary>
/// One client-initiated SPDY stream as a duplex <see cref="Stream"/>: reads return the peer's DATA (0 after its
/// FIN), writes send DATA within the flow-control window, and closing sends our FIN.
/// </summary>
sealed class SpdyStream : Stream
{
    // Past this much unread data the connection's frame reader waits: a peer that ignores our window
    // (spdystream does) is slowed by TCP instead of growing this buffer without bound.
    const long PauseReaderBytes = 1024 * 1024;

    readonly SpdyConnection _connection;
    readonly Pipe _inbound = new(new PipeOptions(pauseWriterThreshold: PauseReaderBytes, resumeWriterThreshold: PauseReaderBytes / 2, useSynchronizationContext: false));
    int _finSent;
    // Set by the owner (ignore, local reset); read by the connection's frame reader, the only writer of _inbound.
    volatile bool _ignoreInbound;

    public SpdyStream(SpdyConnection connection, int id, SpdyHeaders headers, long sendWindow, bool remoteFinished, bool unidirectional)
    {
        _connection = connection;
        Id = id;
        Headers = headers;
        SendWindow = sendWindow;
        Unidirectional = unidirectional;
        if (remoteFinished) RemoteFinished();
    }

    public int Id { get; }
    public SpdyHeaders Headers { get; }
    /// <summary>The peer asked us never to send on this stream.</summary>
    public bool Unidirectional { get; }

    /// <summary>Bytes the peer still accepts on this stream (guarded by the connection's window lock).</summary>
    internal long SendWindow { get; set; }
    /// <summary>Bytes consumed but not yet returned to the peer with WINDOW_UPDATE.</summary>
    internal int UnacknowledgedReceive { get; set; }
    internal bool RemoteClosed { get; private set; }
    internal bool LocalClosed => Volatile.Read(ref _finSent) != 0;
    internal SpdyResetStatus? ResetStatus { get; private set; }

    /// <summary>True once both sides have finished or the stream was reset: the connection can forget it.</summary>
    internal bool Finished => ResetStatus != null || (RemoteClosed && LocalClosed);

    /// <summary>The stream's data is not wanted (e.g. the error stream the client only reads): drop it on arrival.</summary>
    public void IgnoreInbound()
    {
        _ignoreInbound = true;
        _inbound.Reader.CancelPendingRead();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.Length == 0) return 0;
        while (true)
        {
            if (_ignoreInbound) return ResetStatus is { } reset ? throw new IOException($"SPDY stream {Id} was reset ({reset})") : 0;
            var result = await _inbound.Reader.ReadAsync(ct);
            if (result.IsCanceled) continue; // woken by a local reset
            var available = result.Buffer;
            int n = (int)Math.Min(available.Length, buffer.Length);
            available.Slice(0, n).CopyTo(buffer.Span);
            _inbound.Reader.AdvanceTo(available.GetPosition(n));
            if (n > 0)
            {
                await _connection.ConsumedAsync(this, n);
                return n;
            }
            if (result.IsCompleted) return 0;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        if (ResetStatus is { } status) throw new IOException($"SPDY stream {Id} was reset ({status})");
        if (LocalClosed) throw new IOException($"SPDY stream {Id} is already closed for writing");
        if (buffer.Length > 0) await _connection.SendDataAsync(this, buffer, ct);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    /// <summary>Sends our FIN once: the peer reads end-of-stream after whatever was written.</summary>
    public async Task CloseWriteAsync()
    {
        if (Interlocked.Exchange(ref _finSent, 1) != 0 || ResetStatus != null) return;
        await _connection.SendFinAsync(this);
    }

    /// <summary>Abandons the stream with RST_STREAM; pending and later reads fail.</summary>
    public async Task ResetAsync(SpdyResetStatus status)
    {
        if (ResetStatus != null) return;
        ResetStatus = status;
        Interlocked.Exchange(ref _finSent, 1);
        IgnoreInbound();
        await _connection.SendResetAsync(this, status);
    }

    public override async ValueTask DisposeAsync()
    {
        try
        {
            await CloseWriteAsync();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection is gone; there is no one left to tell.
        }
        await base.DisposeAsync();
    }

    /// <summary>Called by the connection's frame reader with DATA for this stream; false when nobody will read it.</summary>
    internal async ValueTask<bool> ReceivedAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (_ignoreInbound || RemoteClosed) return false;
        var flush = await _inbound.Writer.WriteAsync(data, ct);
        return !flush.IsCompleted;
    }

    /// <summary>The peer's FIN (frame reader only).</summary>
    internal void RemoteFinished()
    {
        if (RemoteClosed) return;
        RemoteClosed = true;
        _inbound.Writer.Complete();
    }

    /// <summary>The peer's RST_STREAM or the end of the connection (frame reader only).</summary>
    internal void Reset(SpdyResetStatus status)
    {
        ResetStatus ??= status;
        Interlocked.Exchange(ref _finSent, 1);
        if (!RemoteClosed)
        {
            RemoteClosed = true;
            _inbound.Writer.Complete(new IOException($"SPDY stream {Id} was reset ({status})"));
        }
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;
    // Sessions are asynchronous end to end; a blocking call here would be a bug, not a fallback.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
