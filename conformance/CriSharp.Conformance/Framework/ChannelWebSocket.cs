using System.Net;
using System.Net.WebSockets;
using System.Text;

namespace CriSharp.Conformance.Framework;

/// <summary>
/// A minimal client of Kubernetes' WebSocket channel protocol as the kubelet's streaming server speaks it
/// (k8s.io/apimachinery wsstream, binary subprotocols such as <c>v4.channel.k8s.io</c>): every message is one
/// channel byte followed by data. Exec/attach channels: 0 stdin, 1 stdout, 2 stderr, 3 error (the v4 JSON
/// status), 4 resize; port-forward: 2i data and 2i+1 error for the i-th port, each opened by the port as a
/// little-endian uint16. Everything received is kept per channel until the server closes the socket.
/// </summary>
public sealed class ChannelWebSocket : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly Dictionary<int, List<byte[]>> _messages = [];
    private readonly Task _reader;
    private readonly SemaphoreSlim _received = new(0);

    private ChannelWebSocket(ClientWebSocket socket)
    {
        _socket = socket;
        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>The subprotocol the server chose.</summary>
    public string? Protocol => _socket.SubProtocol;

    /// <summary>Completes when the server closed the socket (or the connection broke).</summary>
    public Task Closed => _reader;

    /// <summary>Opens <paramref name="url"/> (http → ws) offering <paramref name="protocols"/>; a refused handshake throws <see cref="HandshakeRefusedException"/>.</summary>
    public static async Task<ChannelWebSocket> ConnectAsync(string url, string[] protocols, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.Proxy = null;
        foreach (var p in protocols)
        {
            socket.Options.AddSubProtocol(p);
        }

        var uri = new UriBuilder(url) { Scheme = url.StartsWith("https:", StringComparison.Ordinal) ? "wss" : "ws" }.Uri;
        try
        {
            await socket.ConnectAsync(uri, ct);
        }
        catch (WebSocketException e)
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            throw new HandshakeRefusedException(status, $"WebSocket handshake to {url} refused (HTTP {(int)status}): {e.Message}");
        }

        return new ChannelWebSocket(socket);
    }

    public Task SendAsync(int channel, string text, CancellationToken ct) => SendAsync(channel, Encoding.UTF8.GetBytes(text), ct);

    public async Task SendAsync(int channel, byte[] data, CancellationToken ct)
    {
        var message = new byte[data.Length + 1];
        message[0] = (byte)channel;
        data.CopyTo(message, 1);
        await _socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, ct);
    }

    /// <summary>The messages received on <paramref name="channel"/> so far (the kubelet's empty "ready" messages included).</summary>
    public IReadOnlyList<byte[]> Messages(int channel)
    {
        lock (_messages)
        {
            return _messages.TryGetValue(channel, out var list) ? [.. list] : [];
        }
    }

    /// <summary>All data received on <paramref name="channel"/> so far, as UTF-8.</summary>
    public string Text(int channel) => Encoding.UTF8.GetString(Messages(channel).SelectMany(m => m).ToArray());

    /// <summary>Waits until <paramref name="channel"/>'s text contains <paramref name="expected"/>; false if the socket closed first.</summary>
    public async Task<bool> WaitForTextAsync(int channel, string expected, CancellationToken ct)
    {
        while (!Text(channel).Contains(expected, StringComparison.Ordinal))
        {
            if (_reader.IsCompleted)
            {
                return Text(channel).Contains(expected, StringComparison.Ordinal);
            }

            await Task.WhenAny(_received.WaitAsync(ct), _reader);
            ct.ThrowIfCancellationRequested();
        }

        return true;
    }

    /// <summary>Waits until <paramref name="channel"/> has at least <paramref name="count"/> messages; false if the socket closed first.</summary>
    public async Task<bool> WaitForMessagesAsync(int channel, int count, CancellationToken ct)
    {
        while (Messages(channel).Count < count)
        {
            if (_reader.IsCompleted)
            {
                return Messages(channel).Count >= count;
            }

            await Task.WhenAny(_received.WaitAsync(ct), _reader);
            ct.ThrowIfCancellationRequested();
        }

        return true;
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
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
                }
                while (!result.EndOfMessage);

                var bytes = message.ToArray();
                if (bytes.Length == 0)
                {
                    continue;
                }

                lock (_messages)
                {
                    if (!_messages.TryGetValue(bytes[0], out var list))
                    {
                        _messages[bytes[0]] = list = [];
                    }

                    list.Add(bytes[1..]);
                }

                _received.Release();
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection ended without a close handshake: everything received so far stays.
        }
        finally
        {
            _received.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        _socket.Dispose();
        await _reader;
        _received.Dispose();
    }
}

/// <summary>The server answered the WebSocket upgrade with an HTTP status other than 101.</summary>
public sealed class HandshakeRefusedException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}
