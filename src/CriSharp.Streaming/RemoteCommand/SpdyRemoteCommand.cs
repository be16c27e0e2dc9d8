using CriSharp.Streaming.Spdy;

namespace CriSharp.Streaming.RemoteCommand;

/// <summary>
/// Exec and attach over SPDY: the client opens one stream per channel, named by its <c>streamType</c> header;
/// the session starts once every stream the request implies is open.
/// </summary>
static class SpdyRemoteCommand
{
    /// <summary>How long the client has to open its streams, as the kubelet's default.</summary>
    public static readonly TimeSpan StreamCreationTimeout = TimeSpan.FromSeconds(30);

    static readonly string[] KnownTypes =
        [RemoteCommandProtocols.Error, RemoteCommandProtocols.Stdin, RemoteCommandProtocols.Stdout, RemoteCommandProtocols.Stderr, RemoteCommandProtocols.Resize];

    public static async Task ServeAsync(Stream transport, string protocol, RemoteCommandOptions options,
        Func<CancellationToken, Task<IStreamingProcess>> start, IdleWatch idle, Serilog.ILogger log, CancellationToken ct)
    {
        await using var connection = new SpdyConnection(transport, Admit, idle, log);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct, connection.Closed);
        var reading = connection.RunAsync(session.Token);
        var idling = IdleThenCloseAsync(connection, idle, log, session.Token);
        try
        {
            var streams = await CollectStreamsAsync(connection, protocol, options, log, session.Token);
            if (streams == null) return;
            var refuseLate = RefuseLateStreamsAsync(connection, session.Token);
            foreach (var type in new[] { RemoteCommandProtocols.Error, RemoteCommandProtocols.Stdout, RemoteCommandProtocols.Stderr })
                if (streams.TryGetValue(type, out var outputOnly)) outputOnly.IgnoreInbound();

            var channels = new RemoteCommandChannels
            {
                Stdin = options.Stdin ? streams.GetValueOrDefault(RemoteCommandProtocols.Stdin) : null,
                Stdout = options.Stdout ? streams.GetValueOrDefault(RemoteCommandProtocols.Stdout) : null,
                Stderr = options.Stderr && !options.Tty ? streams.GetValueOrDefault(RemoteCommandProtocols.Stderr) : null,
                Resize = options.Tty ? streams.GetValueOrDefault(RemoteCommandProtocols.Resize) : null,
                Error = streams[RemoteCommandProtocols.Error],
                JsonStatus = RemoteCommandProtocols.ReportsJsonStatus(protocol),
            };
            // A stream the request did not ask for (a client/request mismatch) is neither read nor left hanging.
            var unused = streams.Values.Where(s => s != channels.Stdin && s != channels.Stdout && s != channels.Stderr && s != channels.Resize && s != channels.Error).ToList();
            foreach (var stream in unused) stream.IgnoreInbound();
            await RemoteCommandRunner.RunAsync(channels, start, options.ReportExitCode, log, session.Token);
            foreach (var stream in unused) await stream.DisposeAsync();
            await connection.CloseAsync(SpdyConnection.CloseLinger);
            await refuseLate;
        }
        finally
        {
            await session.CancelAsync();
            await Task.WhenAll(reading, idling);
        }

        static string? Admit(SpdyHeaders headers)
        {
            var type = headers.Get(RemoteCommandProtocols.StreamTypeHeader);
            return KnownTypes.Contains(type) ? null : $"unknown stream type '{type}'";
        }
    }

    /// <summary>Waits for the streams the request implies; null (connection closed) when the client does not open them in time.</summary>
    static async Task<Dictionary<string, SpdyStream>?> CollectStreamsAsync(SpdyConnection connection, string protocol,
        RemoteCommandOptions options, Serilog.ILogger log, CancellationToken ct)
    {
        var needed = new HashSet<string>(StringComparer.Ordinal) { RemoteCommandProtocols.Error };
        if (options.Stdin) needed.Add(RemoteCommandProtocols.Stdin);
        if (options.Stdout) needed.Add(RemoteCommandProtocols.Stdout);
        if (options.Stderr && !options.Tty) needed.Add(RemoteCommandProtocols.Stderr);
        if (options.Tty && RemoteCommandProtocols.SupportsResize(protocol)) needed.Add(RemoteCommandProtocols.Resize);

        var streams = new Dictionary<string, SpdyStream>(StringComparer.Ordinal);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(StreamCreationTimeout);
        try
        {
            while (!needed.IsSubsetOf(streams.Keys))
            {
                var stream = await connection.AcceptedStreams.ReadAsync(timeout.Token);
                var type = stream.Headers.Get(RemoteCommandProtocols.StreamTypeHeader)!;
                if (!streams.TryAdd(type, stream)) await stream.ResetAsync(SpdyResetStatus.ProtocolError);
            }
            return streams;
        }
        catch (Exception e) when (e is OperationCanceledException or System.Threading.Channels.ChannelClosedException)
        {
            if (!ct.IsCancellationRequested && !connection.Closed.IsCancellationRequested)
                log.Warning("streaming client opened [{Got}] of the streams [{Needed}] within {Timeout}; closing",
                    string.Join(' ', streams.Keys), string.Join(' ', needed), StreamCreationTimeout);
            await connection.CloseAsync(TimeSpan.Zero);
            return null;
        }
    }

    static async Task RefuseLateStreamsAsync(SpdyConnection connection, CancellationToken ct)
    {
        try
        {
            await foreach (var stream in connection.AcceptedStreams.ReadAllAsync(ct))
                await stream.ResetAsync(SpdyResetStatus.RefusedStream);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Closes the connection once it has been silent for the idle timeout.</summary>
    internal static async Task IdleThenCloseAsync(SpdyConnection connection, IdleWatch idle, Serilog.ILogger log, CancellationToken ct)
    {
        await idle.WaitForIdleAsync(ct);
        if (ct.IsCancellationRequested) return;
        log.Information("closing a streaming session idle for longer than its timeout");
        await connection.CloseAsync(TimeSpan.Zero);
    }
}
