using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;

namespace CriSharp.TestSupport.Streaming;

/// <summary>
/// A client for Kubernetes' WebSocket channel protocol, written for the tests: each binary message is one channel
/// byte and its data (base64 subprotocols: a channel digit and base64 text); v5 sends [255, channel] to close one.
/// </summary>
sealed class TestChannelWebSocketClient : IAsyncDisposable
{
    readonly ClientWebSocket _socket;
    readonly ConcurrentDictionary<int, Channel<byte[]>> _channels = new();
    readonly Task _reader;

    TestChannelWebSocketClient(ClientWebSocket socket)
    {
        _socket = socket;
        _reader = Task.Run(ReadLoopAsync);
    }

    public string? Protocol => _socket.SubProtocol;
    bool Base64 => Protocol?.Contains("base64", StringComparison.Ordinal) == true;
    public ConcurrentQueue<int> ClosedByServer { get; } = new();
    public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Empty messages, in order, by channel (the kubelet's "session is up" signal is one).</summary>
    public ConcurrentQueue<int> EmptyMessages { get; } = new();

    /// <summary>Connects; on a refused handshake returns the HTTP status instead.</summary>
    public static Task<(TestChannelWebSocketClient? Client, HttpStatusCode Status)> ConnectAsync(Uri url, params string[] protocols) =>
        ConnectAsync(url, protocols, configure: null);

    public static async Task<(TestChannelWebSocketClient? Client, HttpStatusCode Status)> ConnectAsync(Uri url, string[] protocols, Action<ClientWebSocketOptions>? configure)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        foreach (var p in protocols) socket.Options.AddSubProtocol(p);
        var ws = new UriBuilder(url) { Scheme = url.Scheme == "https" ? "wss" : "ws" }.Uri;
        try
        {
            await socket.ConnectAsync(ws, CancellationToken.None);
        }
        catch (WebSocketException)
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            return (null, status);
        }
        return (new TestChannelWebSocketClient(socket), HttpStatusCode.SwitchingProtocols);
    }

    Channel<byte[]> ChannelOf(int channel) => _channels.GetOrAdd(channel, _ => Channel.CreateUnbounded<byte[]>());

    async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                        return;
                    }
                    message.Write(buffer, 0, result.Count);
                } while (!result.EndOfMessage);
                var bytes = message.ToArray();
                if (bytes.Length == 0) continue;
                int channel;
                byte[] data;
                if (result.MessageType == WebSocketMessageType.Text)
                {
                    channel = bytes[0] - '0';
                    data = Convert.FromBase64String(Encoding.ASCII.GetString(bytes, 1, bytes.Length - 1));
                }
                else
                {
                    channel = bytes[0];
                    data = bytes[1..];
                }
                if (channel == 255 && Protocol == "v5.channel.k8s.io")
                {
                    ClosedByServer.Enqueue(data[0]);
                    ChannelOf(data[0]).Writer.TryComplete();
                    continue;
                }
                if (data.Length == 0) EmptyMessages.Enqueue(channel);
                else ChannelOf(channel).Writer.TryWrite(data);
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            foreach (var c in _channels.Values) c.Writer.TryComplete();
            Closed.TrySetResult();
        }
    }

    public async Task SendAsync(int channel, byte[] data)
    {
        if (Base64)
            await _socket.SendAsync(Encoding.ASCII.GetBytes((char)('0' + channel) + Convert.ToBase64String(data)), WebSocketMessageType.Text, true, CancellationToken.None);
        else
            await _socket.SendAsync((byte[])[(byte)channel, .. data], WebSocketMessageType.Binary, true, CancellationToken.None);
    }

    public Task SendAsync(int channel, string text) => SendAsync(channel, Encoding.UTF8.GetBytes(text));

    /// <summary>v5's close signal for one of our channels (e.g. stdin).</summary>
    public Task CloseChannelAsync(int channel) =>
        _socket.SendAsync(new byte[] { 255, (byte)channel }, WebSocketMessageType.Binary, true, CancellationToken.None);

    /// <summary>Everything received on <paramref name="channel"/> until the socket (or, in v5, the channel) closes.</summary>
    public async Task<byte[]> ReadToEndAsync(int channel, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var all = new List<byte>();
        var reader = ChannelOf(channel).Reader;
        while (await reader.WaitToReadAsync(cts.Token))
            while (reader.TryRead(out var chunk)) all.AddRange(chunk);
        return [.. all];
    }

    public async Task<string> ReadToEndTextAsync(int channel, TimeSpan? timeout = null) => Encoding.UTF8.GetString(await ReadToEndAsync(channel, timeout));

    /// <summary>Reads <paramref name="channel"/> until its text contains <paramref name="expected"/>.</summary>
    public async Task<string> ReadUntilAsync(int channel, string expected, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var text = new StringBuilder();
        var reader = ChannelOf(channel).Reader;
        while (!text.ToString().Contains(expected))
        {
            if (!await reader.WaitToReadAsync(cts.Token)) throw new EndOfStreamException($"channel {channel} ended before '{expected}'; got '{text}'");
            while (reader.TryRead(out var chunk)) text.Append(Encoding.UTF8.GetString(chunk));
        }
        return text.ToString();
    }

    /// <summary>The next message on <paramref name="channel"/>.</summary>
    public async Task<byte[]> ReadMessageAsync(int channel, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        return await ChannelOf(channel).Reader.ReadAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        _socket.Dispose();
        await _reader;
    }
}
