using System.Collections.Concurrent;
using System.Threading.Channels;

namespace CriSharp.Streaming.Spdy;

/// <summary>
/// The server end of a SPDY/3.1 session on an upgraded HTTP/1.1 connection: reads frames, answers PINGs,
/// accepts or refuses the client's streams, and multiplexes their DATA with flow control.
/// </summary>
/// <remarks>
/// Flow control: we grant the peer the 64 KiB SPDY/3.1 windows (stream and session) and return consumed bytes with
/// WINDOW_UPDATE. We always account for what we send, but only wait for window once the peer has shown it does flow
/// control (sent WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE): moby/spdystream, which kubectl, crictl and the
/// kubelet's proxy use, never sends WINDOW_UPDATE, so a strict sender would stall every session after 64 KiB.
/// </remarks>
sealed class SpdyConnection : IAsyncDisposable
{
    public const int InitialWindow = 64 * 1024;
    /// <summary>Largest DATA frame we send; small enough to interleave streams fairly.</summary>
    const int MaxDataFrame = 32 * 1024;
    /// <summary>How long a finished session waits for the client to hang up first.</summary>
    public static readonly TimeSpan CloseLinger = TimeSpan.FromSeconds(2);

    readonly Stream _transport;
    readonly Func<SpdyHeaders, string?> _admit;
    readonly IdleWatch _idle;
    readonly Serilog.ILogger _log;
    readonly SpdyFrameCodec _codec = new();
    readonly SemaphoreSlim _writeLock = new(1, 1);
    readonly ConcurrentDictionary<int, SpdyStream> _streams = new();
    readonly Channel<SpdyStream> _accepted = Channel.CreateUnbounded<SpdyStream>();
    readonly CancellationTokenSource _closed = new();
    readonly TaskCompletionSource _readerStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Lock _windowLock = new();
    TaskCompletionSource _windowChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    long _sessionSendWindow = InitialWindow;
    long _initialSendWindow = InitialWindow;
    int _sessionUnacknowledged;
    bool _peerDoesFlowControl;
    int _lastPeerStreamId;
    int _goAwaySent;

    /// <param name="admit">Decides on each new stream from its headers: null accepts it, a reason refuses it (RST REFUSED_STREAM).</param>
    public SpdyConnection(Stream transport, Func<SpdyHeaders, string?> admit, IdleWatch idle, Serilog.ILogger log)
    {
        _transport = transport;
        _admit = admit;
        _idle = idle;
        _log = log;
    }

    /// <summary>Streams the peer opened and <c>admit</c> accepted, after their SYN_REPLY went out.</summary>
    public ChannelReader<SpdyStream> AcceptedStreams => _accepted.Reader;

    /// <summary>Cancelled when the connection is gone (peer closed, protocol error, idle timeout, shutdown).</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Reads and handles frames until the connection ends.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        using var link = CancellationTokenSource.CreateLinkedTokenSource(ct, _closed.Token);
        try
        {
            while (await _codec.ReadAsync(_transport, link.Token) is { } frame)
            {
                _idle.Touch();
                await HandleAsync(frame, link.Token);
            }
        }
        catch (SpdyProtocolException e)
        {
            _log.Warning("SPDY protocol error from the streaming client: {Reason}", e.Message);
            await TrySendGoAwayAsync(SpdyGoAwayStatus.ProtocolError);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or EndOfStreamException)
        {
            // The client went away, the session was closed or timed out: all end the same way.
        }
        finally
        {
            Shutdown();
            ResetAllStreams();
            _readerStopped.TrySetResult();
        }
    }

    /// <summary>
    /// Ends the session politely: GOAWAY, then up to <paramref name="linger"/> for the client to close its end, so
    /// that closing ours cannot turn into a TCP reset that discards data the client has not read yet.
    /// </summary>
    public async Task CloseAsync(TimeSpan linger)
    {
        await TrySendGoAwayAsync(SpdyGoAwayStatus.Ok);
        if (linger > TimeSpan.Zero) await Task.WhenAny(_readerStopped.Task, Task.Delay(linger));
        Shutdown();
    }

    public async ValueTask DisposeAsync()
    {
        Shutdown();
        await _transport.DisposeAsync();
    }

    async Task HandleAsync(SpdyFrame frame, CancellationToken ct)
    {
        switch (frame)
        {
            case DataFrame d:
                await DataAsync(d, ct);
                break;
            case SynStreamFrame s:
                await SynStreamAsync(s, ct);
                break;
            case RstStreamFrame r:
                if (_streams.TryRemove(r.StreamId, out var reset)) reset.Reset(r.Status);
                WindowChanged();
                break;
            case HeadersFrame h:
                if (h.Fin && _streams.TryGetValue(h.StreamId, out var finished)) RemoteFinished(finished);
                break;
            case SettingsFrame s:
                foreach (var setting in s.Settings.Where(x => x.Id == SpdyFrame.SettingInitialWindowSize))
                {
                    lock (_windowLock)
                    {
                        long delta = setting.Value - _initialSendWindow;
                        _initialSendWindow = setting.Value;
                        foreach (var stream in _streams.Values) stream.SendWindow += delta;
                        _peerDoesFlowControl = true;
                    }
                    WindowChanged();
                }
                break;
            case WindowUpdateFrame w:
                lock (_windowLock)
                {
                    if (w.StreamId == 0) _sessionSendWindow += w.Delta;
                    else if (_streams.TryGetValue(w.StreamId, out var updated)) updated.SendWindow += w.Delta;
                    _peerDoesFlowControl = true;
                }
                WindowChanged();
                break;
            case PingFrame p:
                // Client PINGs carry odd ids and are echoed; even ids would be answers to ours, and we send none.
                if ((p.Id & 1) == 1) await WriteAsync(p, ct);
                break;
            case GoAwayFrame:
                // The client opens no more streams; the ones open run to completion.
                _accepted.Writer.TryComplete();
                break;
            default:
                break; // SYN_REPLY (we open no streams) and unknown control frames are ignored
        }
    }

    async Task SynStreamAsync(SynStreamFrame s, CancellationToken ct)
    {
        if (s.StreamId <= _lastPeerStreamId || s.StreamId % 2 == 0)
        {
            await WriteAsync(new RstStreamFrame(s.StreamId, SpdyResetStatus.ProtocolError), ct);
            return;
        }
        _lastPeerStreamId = s.StreamId;
        if (Volatile.Read(ref _goAwaySent) != 0)
        {
            await WriteAsync(new RstStreamFrame(s.StreamId, SpdyResetStatus.RefusedStream), ct);
            return;
        }
        var refusal = _admit(s.Headers);
        if (refusal != null)
        {
            _log.Debug("refusing SPDY stream {Id} ({Headers}): {Reason}", s.StreamId, s.Headers, refusal);
            await WriteAsync(new RstStreamFrame(s.StreamId, SpdyResetStatus.RefusedStream), ct);
            return;
        }
        SpdyStream stream;
        lock (_windowLock) stream = new SpdyStream(this, s.StreamId, s.Headers, _initialSendWindow, s.Fin, s.Unidirectional);
        _streams[s.StreamId] = stream;
        await WriteAsync(new SynReplyFrame(s.StreamId, 0, new SpdyHeaders()), ct);
        if (!_accepted.Writer.TryWrite(stream))
            await stream.ResetAsync(SpdyResetStatus.RefusedStream);
    }

    async Task DataAsync(DataFrame d, CancellationToken ct)
    {
        if (!_streams.TryGetValue(d.StreamId, out var stream))
        {
            // Data for a stream we refused or already closed is dropped; a stream never opened is an error.
            if (d.StreamId > _lastPeerStreamId) await WriteAsync(new RstStreamFrame(d.StreamId, SpdyResetStatus.InvalidStream), ct);
            await AcknowledgeSessionAsync(d.Data.Length, ct);
            return;
        }
        if (d.Data.Length > 0 && !await stream.ReceivedAsync(d.Data, ct))
            await AcknowledgeSessionAsync(d.Data.Length, ct); // nobody will read it, so give the window back now
        if (d.Fin) RemoteFinished(stream);
    }

    void RemoteFinished(SpdyStream stream)
    {
        stream.RemoteFinished();
        if (stream.Finished) _streams.TryRemove(stream.Id, out _);
    }

    /// <summary>The application read <paramref name="bytes"/> of a stream: return them to the peer's windows.</summary>
    internal async ValueTask ConsumedAsync(SpdyStream stream, int bytes)
    {
        int streamDelta = 0;
        lock (_windowLock)
        {
            stream.UnacknowledgedReceive += bytes;
            // Updating half a window at a time keeps a flow-controlled peer busy without a frame per read.
            if (stream.UnacknowledgedReceive >= InitialWindow / 2 && !stream.RemoteClosed)
            {
                streamDelta = stream.UnacknowledgedReceive;
                stream.UnacknowledgedReceive = 0;
            }
        }
        try
        {
            if (streamDelta > 0) await WriteAsync(new WindowUpdateFrame(stream.Id, streamDelta), _closed.Token);
            await AcknowledgeSessionAsync(bytes, _closed.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The data was delivered; only the window update could not be, because the connection is gone.
        }
    }

    async ValueTask AcknowledgeSessionAsync(int bytes, CancellationToken ct)
    {
        int delta = 0;
        lock (_windowLock)
        {
            _sessionUnacknowledged += bytes;
            if (_sessionUnacknowledged >= InitialWindow / 2)
            {
                delta = _sessionUnacknowledged;
                _sessionUnacknowledged = 0;
            }
        }
        if (delta > 0) await WriteAsync(new WindowUpdateFrame(0, delta), ct);
    }

    internal async Task SendDataAsync(SpdyStream stream, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        using var link = CancellationTokenSource.CreateLinkedTokenSource(ct, _closed.Token);
        while (data.Length > 0)
        {
            int n = await ReserveWindowAsync(stream, Math.Min(data.Length, MaxDataFrame), link.Token);
            await WriteAsync(new DataFrame(stream.Id, 0, data[..n]), link.Token);
            data = data[n..];
        }
    }

    async Task<int> ReserveWindowAsync(SpdyStream stream, int wanted, CancellationToken ct)
    {
        while (true)
        {
            Task changed;
            lock (_windowLock)
            {
                if (stream.ResetStatus is { } status) throw new IOException($"SPDY stream {stream.Id} was reset ({status})");
                long available = Math.Min(_sessionSendWindow, stream.SendWindow);
                if (!_peerDoesFlowControl || available > 0)
                {
                    int n = _peerDoesFlowControl ? (int)Math.Min(available, wanted) : wanted;
                    _sessionSendWindow -= n;
                    stream.SendWindow -= n;
                    return n;
                }
                changed = _windowChanged.Task;
            }
            await changed.WaitAsync(ct);
        }
    }

    void WindowChanged()
    {
        TaskCompletionSource previous;
        lock (_windowLock)
        {
            previous = _windowChanged;
            _windowChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        previous.TrySetResult();
    }

    internal async Task SendFinAsync(SpdyStream stream)
    {
        await WriteAsync(new DataFrame(stream.Id, SpdyFrame.FlagFin, ReadOnlyMemory<byte>.Empty), _closed.Token);
        if (stream.Finished) _streams.TryRemove(stream.Id, out _);
    }

    internal async Task SendResetAsync(SpdyStream stream, SpdyResetStatus status)
    {
        _streams.TryRemove(stream.Id, out _);
        WindowChanged();
        try
        {
            await WriteAsync(new RstStreamFrame(stream.Id, status), _closed.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection is already gone, which resets every stream anyway.
        }
    }

    async Task TrySendGoAwayAsync(SpdyGoAwayStatus status)
    {
        if (Interlocked.Exchange(ref _goAwaySent, 1) != 0) return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await WriteAsync(new GoAwayFrame(_lastPeerStreamId, status), timeout.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Best effort: the peer may already be gone.
        }
    }

    /// <summary>Writes one frame. Frames are encoded under the lock because header compression is stateful.</summary>
    async Task WriteAsync(SpdyFrame frame, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            var bytes = _codec.Encode(frame);
            // Not cancelled mid-frame by the caller: half a frame would corrupt the session for every stream.
            await _transport.WriteAsync(bytes, _closed.Token);
            await _transport.FlushAsync(_closed.Token);
            _idle.Touch();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    void Shutdown()
    {
        if (_closed.IsCancellationRequested) return;
        _closed.Cancel();
        _accepted.Writer.TryComplete();
        WindowChanged();
    }

    /// <summary>Once the reader has stopped (it alone feeds the streams), every stream still open ends as if reset.</summary>
    void ResetAllStreams()
    {
        foreach (var stream in _streams.Values) stream.Reset(SpdyResetStatus.Cancel);
        _streams.Clear();
    }
}
