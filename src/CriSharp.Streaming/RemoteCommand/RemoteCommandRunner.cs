using System.Text;
using System.Text.Json;

namespace CriSharp.Streaming.RemoteCommand;

/// <summary>The client's side of one exec or attach, whichever transport (SPDY streams, WebSocket channels) carries it.</summary>
sealed class RemoteCommandChannels
{
    /// <summary>Client → process; null when stdin was not requested.</summary>
    public Stream? Stdin { get; init; }
    /// <summary>Process → client; null when the client did not ask for it (the output is then drained and dropped).</summary>
    public Stream? Stdout { get; init; }
    public Stream? Stderr { get; init; }
    /// <summary>Client → JSON terminal sizes; null without a TTY or before protocol v3.</summary>
    public Stream? Resize { get; init; }
    /// <summary>Where the final status goes. Disposing an output stream tells the client it has ended.</summary>
    public required Stream Error { get; init; }
    /// <summary>v4+: a JSON metav1.Status; earlier versions get the failure message as text and nothing on success.</summary>
    public required bool JsonStatus { get; init; }
}

/// <summary>What the client asked for in the CRI request: which channels, a TTY, and whether an exit code is reported.</summary>
sealed record RemoteCommandOptions(bool Stdin, bool Stdout, bool Stderr, bool Tty, bool ReportExitCode);

/// <summary>
/// Runs one exec or attach between a process from the backend and the client's channels: copies stdin, stdout and
/// stderr, forwards resizes, and when the process ends reports how, the way the negotiated protocol version does.
/// </summary>
static class RemoteCommandRunner
{
    /// <summary>
    /// After the process exits, output still in flight is copied while it keeps moving; a background child that holds
    /// the pipe open without writing must not keep the session open.
    /// </summary>
    public static readonly TimeSpan OutputQuietAfterExit = TimeSpan.FromSeconds(2);

    /// <param name="reportExitCode">Exec reports the exit code; attach always reports success, as the kubelet does.</param>
    /// <param name="ct">Cancelled when the client is gone, the session idled out or the server stops.</param>
    public static async Task RunAsync(RemoteCommandChannels channels, Func<CancellationToken, Task<IStreamingProcess>> start,
        bool reportExitCode, Serilog.ILogger log, CancellationToken ct)
    {
        IStreamingProcess process;
        try
        {
            process = await start(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            log.Warning("streaming session could not start: {Error}", e.Message);
            await FinishAsync(channels, CommandStatus.InternalError(e.Message), log);
            return;
        }

        CommandStatus status;
        using var pumps = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var copied = new long[1];
        var stdin = channels.Stdin is { } clientStdin ? PumpStdinAsync(clientStdin, process, pumps.Token) : Task.CompletedTask;
        var stdout = CopyOutputAsync(process.Stdout, channels.Stdout, copied, pumps.Token);
        var stderr = process.Stderr is { } processStderr ? CopyOutputAsync(processStderr, channels.Stderr, copied, pumps.Token) : Task.CompletedTask;
        var resize = channels.Resize is { } sizes ? ForwardResizesAsync(sizes, process, log, pumps.Token) : Task.CompletedTask;
        try
        {
            int exitCode = await process.Exited.WaitAsync(ct);
            await DrainAsync(Task.WhenAll(stdout, stderr), copied, ct);
            status = reportExitCode ? CommandStatus.Exited(exitCode) : CommandStatus.Success();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return; // nobody is left to tell
        }
        catch (Exception e)
        {
            log.Warning("streaming session failed: {Error}", e.Message);
            status = CommandStatus.InternalError(e.Message);
        }
        finally
        {
            await pumps.CancelAsync();
            // Disposing the process also closes its pipes, which ends any pump its stream did not let us cancel.
            await process.DisposeAsync();
            await Task.WhenAll(stdin, stdout, stderr, resize);
        }
        await FinishAsync(channels, status, log);
    }

    /// <summary>Ends the outputs, then writes the status and ends the error stream.</summary>
    static async Task FinishAsync(RemoteCommandChannels channels, CommandStatus status, Serilog.ILogger log)
    {
        try
        {
            if (channels.Stdout != null) await channels.Stdout.DisposeAsync();
            if (channels.Stderr != null) await channels.Stderr.DisposeAsync();
            byte[]? message = channels.JsonStatus
                ? JsonSerializer.SerializeToUtf8Bytes(status, StreamingJsonContext.Default.CommandStatus)
                : status.Succeeded ? null : Encoding.UTF8.GetBytes(status.Message ?? status.Status);
            if (message != null) await channels.Error.WriteAsync(message);
            await channels.Error.DisposeAsync();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            log.Debug("streaming client left before the session's status was sent: {Error}", e.Message);
        }
    }

    static async Task DrainAsync(Task outputs, long[] copied, CancellationToken ct)
    {
        while (!outputs.IsCompleted)
        {
            long before = Interlocked.Read(ref copied[0]);
            await Task.WhenAny(outputs, Task.Delay(OutputQuietAfterExit, ct));
            ct.ThrowIfCancellationRequested();
            if (Interlocked.Read(ref copied[0]) == before) return;
        }
    }

    static async Task PumpStdinAsync(Stream client, IStreamingProcess process, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            int n;
            while ((n = await client.ReadAsync(buffer, ct)) > 0)
            {
                if (process.Stdin is not { } stdin) continue;
                await stdin.WriteAsync(buffer.AsMemory(0, n), ct);
                await stdin.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The client's stdin broke or the process closed its end: either way stdin is over.
        }
        process.CloseStdin();
    }

    static async Task CopyOutputAsync(Stream from, Stream? to, long[] copied, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, ct)) > 0)
            {
                Interlocked.Add(ref copied[0], n);
                if (to == null) continue;
                try
                {
                    await to.WriteAsync(buffer.AsMemory(0, n), ct);
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    to = null; // the client dropped this stream; keep draining so the process never blocks on it
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Cancelled at the end of the session, or the process side closed abruptly.
        }
    }

    static async Task ForwardResizesAsync(Stream sizes, IStreamingProcess process, Serilog.ILogger log, CancellationToken ct)
    {
        try
        {
            await foreach (var size in TerminalSizeReader.ReadAllAsync(sizes, ct))
                await process.ResizeAsync(size.Width, size.Height, ct);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or JsonException or InvalidDataException)
        {
            log.Debug("resize stream ended: {Error}", e.Message);
        }
    }
}
