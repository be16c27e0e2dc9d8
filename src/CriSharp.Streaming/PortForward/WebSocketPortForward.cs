using System.Net.WebSockets;
using System.Text;
using CriSharp.Streaming.WebSockets;

namespace CriSharp.Streaming.PortForward;

/// <summary>
/// Port forward over a WebSocket: port i of the request gets data channel 2i and error channel 2i+1, each opened
/// by a message carrying the port as a little-endian uint16; one connection per port, dialled at once.
/// </summary>
static class WebSocketPortForward
{
    public static async Task ServeAsync(WebSocket socket, string protocol, string podSandboxId, IReadOnlyList<int> ports,
        IStreamingBackend backend, IdleWatch idle, Serilog.ILogger log, CancellationToken ct)
    {
        var channels = new ChannelWebSocket(socket, ports.Count * 2, base64: protocol.Contains("base64", StringComparison.Ordinal), closeSignals: false, idle, log);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct, channels.Closed);
        var reading = channels.RunAsync(session.Token);
        var idling = RemoteCommand.WebSocketRemoteCommand.IdleThenCloseAsync(channels, idle, log, session.Token);
        try
        {
            for (int i = 0; i < ports.Count; i++)
            {
                byte[] port = [(byte)ports[i], (byte)(ports[i] >> 8)];
                await channels.SendAsync((byte)(2 * i), port, session.Token);
                await channels.SendAsync((byte)(2 * i + 1), port, session.Token);
            }
            await Task.WhenAll(ports.Select((port, i) => ForwardAsync(channels, i, port, podSandboxId, backend, log, session.Token)));
            await channels.CloseAsync(Spdy.SpdyConnection.CloseLinger);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client left.
        }
        finally
        {
            await session.CancelAsync();
            await Task.WhenAll(reading, idling);
        }
    }

    static async Task ForwardAsync(ChannelWebSocket channels, int index, int port, string podSandboxId, IStreamingBackend backend,
        Serilog.ILogger log, CancellationToken ct)
    {
        try
        {
            await using var pod = await backend.DialPodPortAsync(podSandboxId, port, ct);
            // v4 has no way to end one channel: the pod closing its side ends this port's forward.
            await PodPortSplice.RunAsync(channels.Reader(2 * index), channels.Writer(2 * index), pod, () => Task.CompletedTask, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var message = $"error forwarding port {port} to pod {podSandboxId}: {e.Message}";
            log.Information("{Message}", message);
            try
            {
                await channels.SendAsync((byte)(2 * index + 1), Encoding.UTF8.GetBytes(message), ct);
            }
            catch (Exception send) when (send is IOException or OperationCanceledException)
            {
            }
        }
    }
}
