using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;

namespace CriSharp.Streaming.WebSockets;

/// <summary>
/// Kubernetes' channel protocol on one WebSocket: every message is a channel number and a payload — binary
/// (a channel byte, then bytes) or, for the base64 subprotocols, text (a channel digit, then base64).
/// With v5 a message [255, channel] half-closes that channel.
/// </summary>
sealed class ChannelWebSocket
{
    public const byte CloseSignal = 255;
    /// <summary>A single message larger than this is refused; clients send stdin in small pieces.</summary>
    const int MaxMessageBytes = 4 * 1024 * 1024;
    const long PauseReaderBytes = 1024 * 1024;

    readonly WebSocket _socket;
    readonly bool _base64;
    readonly bool _closeSignals;
    readonly IdleWatch _idle;
    readonly Serilog.ILogger _log;
    readonly Pipe[] _inbound;
    // Touched only by the receive loop, the one writer of the inbound pipes.
    readonly bool[] _inboundEnded;
    readonly SemaphoreSlim _sendLock = new(1, 1);
    readonly CancellationTokenSource _closed = new();

    /// <param name="closeSignals">v5: the peer may half-close channels and we tell it when ours end.</param>
    public ChannelWebSocket(WebSocket socket, int channels, bool base64, bool closeSignals, IdleWatch idle, Serilog.ILogger log)
    {
        _socket = socket;
        _base64 = base64;
        _closeSignals = closeSignals;
        _idle = idle;
        _log = log;
        _inbound = new Pipe[channels];
        _inboundEnded = new bool[channels];
        for (int i = 0; i < channels; i++)
            _inbound[i] = new Pipe(new PipeOptions(pauseWriterThreshold: PauseReaderBytes, resumeWriterThreshold: PauseReaderBytes / 2, useSynchronizationContext: false));
    }

    /// <summary>Cancelled when the socket is closed, broken or idle.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>What the client sends on <paramref name="channel"/>; end of stream when it half-closes it (v5) or the socket closes.</summary>
    public Stream Reader(int channel) => new ChannelReadStream(_inbound[channel].Reader);

    /// <summary>Writes to <paramref name="channel"/>; disposing it half-closes the channel where the protocol can say so (v5).</summary>
    public Stream Writer(int channel) => new ChannelWriteStream(this, (byte)channel);

    /// <summary>Receives messages until the client closes the socket or the session is cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        using var link = CancellationTokenSource.CreateLinkedTokenSource(ct, _closed.Token);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer, link.Token);
                    if (result.MessageType == WebSocketMessageType.Close) return;
                    message.Write(buffer, 0, result.Count);
                    if (message.Length > MaxMessageBytes) throw new InvalidDataException("WebSocket message too large");
                } while (!result.EndOfMessage);
                _idle.Touch();
                await DispatchAsync(message.GetBuffer().AsMemory(0, (int)message.Length), result.MessageType, link.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or InvalidDataException or FormatException)
        {
            if (e is InvalidDataException or FormatException) _log.Warning("streaming WebSocket client broke the channel protocol: {Error}", e.Message);
        }
        finally
        {
            _closed.Cancel();
            for (int i = 0; i < _inbound.Length; i++) await EndInboundAsync(i);
        }
    }

    async Task DispatchAsync(ReadOnlyMemory<byte> message, WebSocketMessageType type, CancellationToken ct)
    {
        if (message.Length == 0) return;
        int channel;
        ReadOnlyMemory<byte> payload;
        if (type == WebSocketMessageType.Text && _base64)
        {
            channel = message.Span[0] - '0';
            payload = Convert.FromBase64String(Encoding.ASCII.GetString(message.Span[1..]));
        }
        else
        {
            channel = message.Span[0];
            payload = message[1..];
        }
        if (_closeSignals && channel == CloseSignal)
        {
            if (payload.Length == 1 && payload.Span[0] < _inbound.Length) await EndInboundAsync(payload.Span[0]);
            return;
        }
        if (channel < 0 || channel >= _inbound.Length || payload.Length == 0 || _inboundEnded[channel]) return;
        // Copied: the receive buffer is reused for the next message.
        await _inbound[channel].Writer.WriteAsync(payload.ToArray(), ct);
    }

    async ValueTask EndInboundAsync(int channel)
    {
        if (_inboundEnded[channel]) return;
        _inboundEnded[channel] = true;
        await _inbound[channel].Writer.CompleteAsync();
    }

    public async Task SendAsync(byte channel, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        byte[] message;
        WebSocketMessageType type;
        if (_base64)
        {
            message = Encoding.ASCII.GetBytes((char)('0' + channel) + Convert.ToBase64String(payload.Span));
            type = WebSocketMessageType.Text;
        }
        else
        {
            message = new byte[payload.Length + 1];
            message[0] = channel;
            payload.CopyTo(message.AsMemory(1));
            type = WebSocketMessageType.Binary;
        }
        await SendMessageAsync(message, type, ct);
    }

    async Task SendMessageAsync(byte[] message, WebSocketMessageType type, CancellationToken ct)
    {
        using var link = CancellationTokenSource.CreateLinkedTokenSource(ct, _closed.Token);
        await _sendLock.WaitAsync(link.Token);
        try
        {
            await _socket.SendAsync(message, type, endOfMessage: true, link.Token);
            _idle.Touch();
        }
        catch (WebSocketException e)
        {
            throw new IOException($"streaming WebSocket send failed: {e.Message}", e);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    async Task SendCloseSignalAsync(byte channel)
    {
        if (!_closeSignals || _closed.IsCancellationRequested) return;
        await SendMessageAsync([CloseSignal, channel], WebSocketMessageType.Binary, CancellationToken.None);
    }

    /// <summary>Closes the socket with a normal close and waits up to <paramref name="linger"/> for the client's close in reply.</summary>
    public async Task CloseAsync(TimeSpan linger)
    {
        try
        {
            using var timeout = new CancellationTokenSource(linger > TimeSpan.Zero ? linger : TimeSpan.FromSeconds(1));
            await _sendLock.WaitAsync(timeout.Token);
            try
            {
                if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
            finally
            {
                _sendLock.Release();
            }
            if (linger > TimeSpan.Zero) await Task.Delay(Timeout.InfiniteTimeSpan, _closed.Token).WaitAsync(timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
            // Either the client answered the close (the reader stopped) or it did not in time; both end here.
        }
        finally
        {
            _closed.Cancel();
        }
    }

    /// <summary>Reads one channel's inbound bytes.</summary>
    sealed class ChannelReadStream(PipeReader reader) : Stream
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (buffer.Length == 0) return 0;
            while (true)
            {
                var result = await reader.ReadAsync(ct);
                var available = result.Buffer;
                int n = (int)Math.Min(available.Length, buffer.Length);
                available.Slice(0, n).CopyTo(buffer.Span);
                reader.AdvanceTo(available.GetPosition(n));
                if (n > 0) return n;
                if (result.IsCompleted) return 0;
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
        public override bool CanRead => true;
        public override bool CanWrite => false;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>Writes one channel's outbound bytes, one message per write.</summary>
    sealed class ChannelWriteStream(ChannelWebSocket socket, byte channel) : Stream
    {
        int _closed;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) =>
            Volatile.Read(ref _closed) != 0 ? throw new IOException($"channel {channel} is closed") : new(socket.SendAsync(channel, buffer, ct));

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                try
                {
                    await socket.SendCloseSignalAsync(channel);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
                {
                    // The socket is gone; the channel ended with it.
                }
            }
            await base.DisposeAsync();
        }

        public override bool CanRead => false;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
