using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace CriSharp.TestSupport.Streaming;

/// <summary>
/// A SPDY/3.1 client written for the tests from the protocol draft and Kubernetes' upgrade rules, sharing no code
/// with the server: the HTTP/1.1 upgrade by hand, frames encoded with explicit big-endian arithmetic, header blocks
/// through <see cref="TestSpdyZlib"/>. It behaves like spdystream (no flow control) unless told to do flow control.
/// </summary>
sealed class TestSpdyClient : IAsyncDisposable
{
    readonly TcpClient _tcp;
    readonly NetworkStream _net;
    readonly TestSpdyZlib _zlib = new();
    readonly SemaphoreSlim _writeLock = new(1, 1);
    readonly ConcurrentDictionary<int, ClientStream> _streams = new();
    readonly Task _reader;
    int _nextStreamId = 1;

    TestSpdyClient(TcpClient tcp, NetworkStream net, bool flowControl)
    {
        _tcp = tcp;
        _net = net;
        FlowControl = flowControl;
        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Send WINDOW_UPDATE for consumed data (a strict SPDY/3.1 peer); spdystream never does.</summary>
    public bool FlowControl { get; }
    public TaskCompletionSource<uint> GoAway { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public ConcurrentQueue<(int StreamId, int Delta)> WindowUpdates { get; } = new();
    public ConcurrentQueue<uint> PingReplies { get; } = new();
    public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The HTTP answer to the upgrade request; <see cref="Client"/> is set only for 101.</summary>
    public sealed record Upgrade(int Status, IReadOnlyDictionary<string, List<string>> Headers, string Body, TestSpdyClient? Client);

    public static async Task<Upgrade> ConnectAsync(Uri url, IEnumerable<string> protocols, bool flowControl = false, bool sendUpgradeHeaders = true)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(url.Host, url.Port);
        var net = tcp.GetStream();
        var request = new StringBuilder();
        request.Append($"POST {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nUser-Agent: crisharp-test-spdy\r\n");
        if (sendUpgradeHeaders) request.Append("Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n");
        foreach (var p in protocols) request.Append($"X-Stream-Protocol-Version: {p}\r\n");
        request.Append("\r\n");
        await net.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()));

        var head = new List<byte>();
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            int b = net.ReadByte();
            if (b < 0) throw new IOException("server closed before answering the upgrade");
            head.Add((byte)b);
        }
        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        int status = int.Parse(lines[0].Split(' ')[1]);
        var headers = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            var name = line[..colon].Trim();
            if (!headers.TryGetValue(name, out var values)) headers[name] = values = [];
            values.Add(line[(colon + 1)..].Trim());
        }
        if (status == 101) return new Upgrade(status, headers, "", new TestSpdyClient(tcp, net, flowControl));

        string body = "";
        if (headers.TryGetValue("Content-Length", out var length))
        {
            var bytes = new byte[int.Parse(length[0])];
            await net.ReadExactlyAsync(bytes);
            body = Encoding.UTF8.GetString(bytes);
        }
        tcp.Dispose();
        return new Upgrade(status, headers, body, null);
    }

    /// <summary>Opens a stream (SYN_STREAM) and waits for the server's SYN_REPLY or RST_STREAM.</summary>
    public async Task<ClientStream> OpenStreamAsync(params (string Name, string Value)[] headers)
    {
        int id;
        lock (_streams)
        {
            id = _nextStreamId;
            _nextStreamId += 2;
        }
        var stream = new ClientStream(this, id);
        _streams[id] = stream;
        var block = new List<byte>();
        Int32(block, headers.Length);
        foreach (var (name, value) in headers)
        {
            var n = Encoding.UTF8.GetBytes(name.ToLowerInvariant());
            var v = Encoding.UTF8.GetBytes(value);
            Int32(block, n.Length);
            block.AddRange(n);
            Int32(block, v.Length);
            block.AddRange(v);
        }
        await _writeLock.WaitAsync();
        try
        {
            // Compressed under the lock: the zlib stream must match the order frames reach the wire.
            var compressed = _zlib.Compress([.. block]);
            var payload = new List<byte>();
            Int32(payload, id);
            Int32(payload, 0); // associated stream
            payload.Add(0); // priority 0
            payload.Add(0); // slot
            payload.AddRange(compressed);
            await _net.WriteAsync(ControlFrame(1, 0, [.. payload]));
        }
        finally
        {
            _writeLock.Release();
        }
        await Task.WhenAny(stream.Replied.Task, stream.ResetReceived.Task).WaitAsync(TimeSpan.FromSeconds(10));
        return stream;
    }

    public Task SendDataAsync(int streamId, byte[] data, bool fin)
    {
        var frame = new byte[8 + data.Length];
        frame[0] = (byte)(streamId >> 24 & 0x7F);
        frame[1] = (byte)(streamId >> 16);
        frame[2] = (byte)(streamId >> 8);
        frame[3] = (byte)streamId;
        frame[4] = (byte)(fin ? 1 : 0);
        frame[5] = (byte)(data.Length >> 16);
        frame[6] = (byte)(data.Length >> 8);
        frame[7] = (byte)data.Length;
        data.CopyTo(frame, 8);
        return WriteRawAsync(frame);
    }

    public Task SendResetAsync(int streamId, uint status) => WriteRawAsync(ControlFrame(3, 0, [.. Word(streamId), .. Word((int)status)]));
    public Task SendPingAsync(uint id) => WriteRawAsync(ControlFrame(6, 0, Word((int)id)));
    public Task SendGoAwayAsync() => WriteRawAsync(ControlFrame(7, 0, [.. Word(_nextStreamId - 2), .. Word(0)]));
    public Task SendWindowUpdateAsync(int streamId, int delta) => WriteRawAsync(ControlFrame(9, 0, [.. Word(streamId), .. Word(delta)]));

    /// <summary>SETTINGS with SETTINGS_INITIAL_WINDOW_SIZE (id 7).</summary>
    public Task SendInitialWindowAsync(int size) => WriteRawAsync(ControlFrame(4, 0, [.. Word(1), .. Word(7), .. Word(size)]));

    public async Task WriteRawAsync(byte[] bytes)
    {
        await _writeLock.WaitAsync();
        try
        {
            await _net.WriteAsync(bytes);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    async Task ReadLoopAsync()
    {
        var header = new byte[8];
        try
        {
            while (true)
            {
                await _net.ReadExactlyAsync(header);
                int length = header[5] << 16 | header[6] << 8 | header[7];
                byte flags = header[4];
                var payload = new byte[length];
                await _net.ReadExactlyAsync(payload);
                if ((header[0] & 0x80) == 0)
                {
                    int id = (header[0] & 0x7F) << 24 | header[1] << 16 | header[2] << 8 | header[3];
                    if (_streams.TryGetValue(id, out var s)) s.Deliver(payload, (flags & 1) != 0);
                    continue;
                }
                int version = (header[0] & 0x7F) << 8 | header[1];
                if (version != 3) throw new InvalidDataException($"server sent SPDY version {version}");
                int type = header[2] << 8 | header[3];
                int streamId = ReadInt(payload, 0) & 0x7FFFFFFF;
                switch (type)
                {
                    case 2: // SYN_REPLY
                        ParseHeaders(_zlib.Decompress(payload[4..]));
                        if (_streams.TryGetValue(streamId, out var replied))
                        {
                            replied.Replied.TrySetResult();
                            if ((flags & 1) != 0) replied.Deliver([], true);
                        }
                        break;
                    case 3: // RST_STREAM
                        if (_streams.TryGetValue(streamId, out var reset)) reset.OnReset((uint)ReadInt(payload, 4));
                        break;
                    case 6: // PING: ours come back with odd ids
                        PingReplies.Enqueue((uint)ReadInt(payload, 0));
                        break;
                    case 7: // GOAWAY
                        GoAway.TrySetResult((uint)ReadInt(payload, 4));
                        break;
                    case 8: // HEADERS
                        ParseHeaders(_zlib.Decompress(payload[4..]));
                        break;
                    case 9: // WINDOW_UPDATE
                        WindowUpdates.Enqueue((streamId, ReadInt(payload, 4) & 0x7FFFFFFF));
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            foreach (var s in _streams.Values) s.Deliver([], true);
            Closed.TrySetResult();
        }
    }

    static Dictionary<string, string> ParseHeaders(byte[] block)
    {
        var headers = new Dictionary<string, string>();
        int pos = 0, count = ReadInt(block, pos);
        pos += 4;
        for (int i = 0; i < count; i++)
        {
            int n = ReadInt(block, pos);
            var name = Encoding.UTF8.GetString(block, pos + 4, n);
            pos += 4 + n;
            int v = ReadInt(block, pos);
            headers[name] = Encoding.UTF8.GetString(block, pos + 4, v);
            pos += 4 + v;
        }
        return headers;
    }

    static byte[] ControlFrame(int type, byte flags, byte[] payload)
    {
        var frame = new byte[8 + payload.Length];
        frame[0] = 0x80;
        frame[1] = 3;
        frame[2] = (byte)(type >> 8);
        frame[3] = (byte)type;
        frame[4] = flags;
        frame[5] = (byte)(payload.Length >> 16);
        frame[6] = (byte)(payload.Length >> 8);
        frame[7] = (byte)payload.Length;
        payload.CopyTo(frame, 8);
        return frame;
    }

    static byte[] Word(int v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];
    static void Int32(List<byte> bytes, int v) => bytes.AddRange(Word(v));
    static int ReadInt(byte[] b, int at) => b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3];

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        await _reader;
    }

    /// <summary>One stream the client opened.</summary>
    public sealed class ClientStream(TestSpdyClient client, int id)
    {
        readonly Channel<byte[]> _data = Channel.CreateUnbounded<byte[]>();
        byte[] _leftover = [];
        long _buffered;

        /// <summary>Bytes received and not read yet.</summary>
        public long BufferedBytes => Interlocked.Read(ref _buffered);

        public int Id { get; } = id;
        public TaskCompletionSource Replied { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<uint> ResetReceived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Accepted => Replied.Task.IsCompletedSuccessfully;

        public Task WriteAsync(string text) => client.SendDataAsync(Id, Encoding.UTF8.GetBytes(text), fin: false);
        public Task WriteAsync(byte[] data) => client.SendDataAsync(Id, data, fin: false);
        /// <summary>Half-closes: DATA with FLAG_FIN.</summary>
        public Task CloseAsync() => client.SendDataAsync(Id, [], fin: true);

        internal void Deliver(byte[] data, bool fin)
        {
            if (data.Length > 0)
            {
                Interlocked.Add(ref _buffered, data.Length);
                _data.Writer.TryWrite(data);
            }
            if (fin) _data.Writer.TryComplete();
        }

        internal void OnReset(uint status)
        {
            ResetReceived.TrySetResult(status);
            _data.Writer.TryComplete();
        }

        /// <summary>The next piece of data, or null at end of stream.</summary>
        public async Task<byte[]?> ReadAsync(CancellationToken ct = default)
        {
            if (_leftover.Length > 0)
            {
                var l = _leftover;
                _leftover = [];
                return l;
            }
            if (!await _data.Reader.WaitToReadAsync(ct)) return null;
            var chunk = await _data.Reader.ReadAsync(ct);
            Interlocked.Add(ref _buffered, -chunk.Length);
            if (client.FlowControl)
            {
                await client.SendWindowUpdateAsync(Id, chunk.Length);
                await client.SendWindowUpdateAsync(0, chunk.Length);
            }
            return chunk;
        }

        public async Task<byte[]> ReadToEndAsync(TimeSpan? timeout = null)
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
            var all = new List<byte>();
            while (await ReadAsync(cts.Token) is { } chunk) all.AddRange(chunk);
            return [.. all];
        }

        public async Task<string> ReadToEndTextAsync(TimeSpan? timeout = null) => Encoding.UTF8.GetString(await ReadToEndAsync(timeout));

        /// <summary>Reads until the text seen so far contains <paramref name="expected"/>.</summary>
        public async Task<string> ReadUntilAsync(string expected, TimeSpan? timeout = null)
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
            var text = new StringBuilder();
            while (!text.ToString().Contains(expected))
            {
                var chunk = await ReadAsync(cts.Token) ?? throw new EndOfStreamException($"stream ended before '{expected}'; got '{text}'");
                text.Append(Encoding.UTF8.GetString(chunk));
            }
            return text.ToString();
        }

        /// <summary>Reads exactly <paramref name="count"/> bytes, keeping any excess for the next read.</summary>
        public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken ct)
        {
            var all = new List<byte>();
            while (all.Count < count)
            {
                var chunk = await ReadAsync(ct) ?? throw new EndOfStreamException($"stream ended after {all.Count} of {count} bytes");
                int take = Math.Min(chunk.Length, count - all.Count);
                all.AddRange(chunk[..take]);
                if (take < chunk.Length) _leftover = chunk[take..];
            }
            return [.. all];
        }
    }
}
