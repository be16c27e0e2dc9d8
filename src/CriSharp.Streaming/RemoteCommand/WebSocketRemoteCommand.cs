using System.Net.WebSockets;
using CriSharp.Streaming.WebSockets;

namespace CriSharp.Streaming.RemoteCommand;

/// <summary>
/// Exec and attach over a WebSocket: channel 0 stdin, 1 stdout, 2 stderr, 3 error (the status), 4 resize;
/// v5 adds the close signal so the client can end stdin.
/// </summary>
static class WebSocketRemoteCommand
{
    const byte StdinChannel = 0, StdoutChannel = 1, StderrChannel = 2, ErrorChannel = 3, ResizeChannel = 4;

    public static async Task ServeAsync(WebSocket socket, string protocol, RemoteCommandOptions options,
        Func<CancellationToken, Task<IStreamingProcess>> start, IdleWatch idle, Serilog.ILogger log, CancellationToken ct)
    {
        bool base64 = protocol is RemoteCommandProtocols.Base64V1 or RemoteCommandProtocols.Base64V4;
        var channels = new ChannelWebSocket(socket, 5, base64, closeSignals: protocol == RemoteCommandProtocols.V5, idle, log);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct, channels.Closed);
        var reading = channels.RunAsync(session.Token);
        var idling = IdleThenCloseAsync(channels, idle, log, session.Token);
        try
        {
            // As the kubelet does: an empty message on the first channel the client reads says the session is up.
            byte first = options.Stdout ? StdoutChannel : options.Stderr && !options.Tty ? StderrChannel : ErrorChannel;
            await channels.SendAsync(first, ReadOnlyMemory<byte>.Empty, session.Token);

            var streams = new RemoteCommandChannels
            {
                Stdin = options.Stdin ? channels.Reader(StdinChannel) : null,
                Stdout = options.Stdout ? channels.Writer(StdoutChannel) : null,
                Stderr = options.Stderr && !options.Tty ? channels.Writer(StderrChannel) : null,
                Resize = options.Tty ? channels.Reader(ResizeChannel) : null,
                Error = channels.Writer(ErrorChannel),
                JsonStatus = RemoteCommandProtocols.ReportsJsonStatus(protocol),
            };
            await RemoteCommandRunner.RunAsync(streams, start, options.ReportExitCode, log, session.Token);
            await channels.CloseAsync(Spdy.SpdyConnection.CloseLinger);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client left before the session was set up.
        }
        finally
        {
            await session.CancelAsync();
            await Task.WhenAll(reading, idling);
        }
    }

    /// <summary>Closes the socket once it has been silent for the idle timeout.</summary>
    internal static async Task IdleThenCloseAsync(ChannelWebSocket channels, IdleWatch idle, Serilog.ILogger log, CancellationToken ct)
    {
        await idle.WaitForIdleAsync(ct);
        if (ct.IsCancellationRequested) return;
        log.Information("closing a streaming session idle for longer than its timeout");
        await channels.CloseAsync(TimeSpan.Zero);
    }
}
