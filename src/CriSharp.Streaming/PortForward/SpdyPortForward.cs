using System.Globalization;
using System.Text;
using CriSharp.Streaming.Spdy;

namespace CriSharp.Streaming.PortForward;

/// <summary>
/// Port forward over SPDY: for each forwarded connection the client opens a data and an error stream with the same
/// <c>requestID</c> and <c>port</c>; once both are open the port is dialled in the pod and spliced to the data
/// stream, and a failure is reported as text on the error stream.
/// </summary>
static class SpdyPortForward
{
    /// <summary>How long one stream of a pair waits for the other, as the kubelet's default.</summary>
    public static readonly TimeSpan PairTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A pair of streams being assembled for one request id.</summary>
    sealed class StreamPair(string requestId)
    {
        public string RequestId { get; } = requestId;
        public SpdyStream? Data { get; set; }
        public SpdyStream? Error { get; set; }
        public CancellationTokenSource Waiting { get; } = new();
    }

    public static async Task ServeAsync(Stream transport, string podSandboxId, IStreamingBackend backend, IdleWatch idle,
        Serilog.ILogger log, CancellationToken ct)
    {
        await using var connection = new SpdyConnection(transport, Admit, idle, log);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct, connection.Closed);
        var reading = connection.RunAsync(session.Token);
        var idling = RemoteCommand.SpdyRemoteCommand.IdleThenCloseAsync(connection, idle, log, session.Token);
        var pending = new Dictionary<string, StreamPair>(StringComparer.Ordinal);
        var forwards = new List<Task>();
        try
        {
            await foreach (var stream in connection.AcceptedStreams.ReadAllAsync(session.Token))
            {
                if (JoinPair(stream, pending, forwards, log) is not { } complete) continue;
                var forward = ForwardAsync(complete, podSandboxId, backend, log, session.Token);
                lock (pending)
                {
                    forwards.RemoveAll(t => t.IsCompleted); // a long session forwards many connections
                    forwards.Add(forward);
                }
            }
            // The client sent GOAWAY: the forwards already running finish, then the session ends.
            Task[] running;
            lock (pending) running = [.. forwards];
            await Task.WhenAll(running);
            await connection.CloseAsync(SpdyConnection.CloseLinger);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await session.CancelAsync();
            Task[] running;
            lock (pending)
            {
                foreach (var pair in pending.Values) pair.Waiting.Cancel();
                running = [.. forwards];
            }
            await Task.WhenAll([.. running, reading, idling]);
        }
    }

    /// <summary>
    /// Puts <paramref name="stream"/> in the pair of its request id, opening the pair (and starting its expiry) if the
    /// stream is its first; a second stream of the same type is reset. Returns the pair once both its streams are in,
    /// taken out of <paramref name="pending"/>, else null.
    /// </summary>
    static StreamPair? JoinPair(SpdyStream stream, Dictionary<string, StreamPair> pending, List<Task> forwards, Serilog.ILogger log)
    {
        var requestId = RequestId(stream);
        lock (pending)
        {
            if (!pending.TryGetValue(requestId, out var pair))
            {
                pair = new StreamPair(requestId);
                pending[requestId] = pair;
                forwards.Add(ExpireAsync(pair, pending, log));
            }
            bool isData = stream.Headers.Get(PortForwardProtocols.StreamTypeHeader) == PortForwardProtocols.Data;
            if ((isData ? pair.Data : pair.Error) != null)
            {
                _ = stream.ResetAsync(SpdyResetStatus.ProtocolError);
                return null;
            }
            if (isData) pair.Data = stream;
            else pair.Error = stream;
            if (pair is not { Data: not null, Error: not null }) return null;
            pending.Remove(requestId);
            pair.Waiting.Cancel();
            return pair;
        }
    }

    /// <summary>Accepts only streams a port forward can use: a data or error type and a port in 1..65535.</summary>
    static string? Admit(SpdyHeaders headers)
    {
        var type = headers.Get(PortForwardProtocols.StreamTypeHeader);
        if (type is not (PortForwardProtocols.Data or PortForwardProtocols.Error)) return $"invalid stream type '{type}'";
        var port = headers.Get(PortForwardProtocols.PortHeader);
        if (port == null) return "\"port\" header is required";
        if (!ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p == 0) return $"invalid port '{port}'";
        return null;
    }

    /// <summary>
    /// The pair's request id. Clients before Kubernetes 1.6 sent none; as the kubelet does, their pairs are matched by
    /// stream id (data opened right before error), which only works when forwards are not opened concurrently.
    /// </summary>
    static string RequestId(SpdyStream stream)
    {
        var id = stream.Headers.Get(PortForwardProtocols.RequestIdHeader);
        if (!string.IsNullOrEmpty(id)) return id;
        bool isData = stream.Headers.Get(PortForwardProtocols.StreamTypeHeader) == PortForwardProtocols.Data;
        return (isData ? stream.Id + 2 : stream.Id).ToString(CultureInfo.InvariantCulture);
    }

    static async Task ExpireAsync(StreamPair pair, Dictionary<string, StreamPair> pending, Serilog.ILogger log)
    {
        try
        {
            await Task.Delay(PairTimeout, pair.Waiting.Token);
        }
        catch (OperationCanceledException)
        {
            return; // the pair was completed or the session ended
        }
        lock (pending)
        {
            if (!pending.Remove(pair.RequestId)) return;
        }
        log.Warning("port-forward request {RequestId} timed out waiting for its data and error streams", pair.RequestId);
        var present = (Stream?)pair.Error ?? pair.Data;
        if (present == null) return;
        try
        {
            if (pair.Error != null) await pair.Error.WriteAsync(Encoding.UTF8.GetBytes($"timed out waiting for the data and error streams of request {pair.RequestId}"));
            await present.DisposeAsync();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    static async Task ForwardAsync(StreamPair pair, string podSandboxId, IStreamingBackend backend, Serilog.ILogger log, CancellationToken ct)
    {
        var data = pair.Data!;
        var error = pair.Error!;
        error.IgnoreInbound();
        int port = int.Parse(data.Headers.Get(PortForwardProtocols.PortHeader)!, CultureInfo.InvariantCulture);
        try
        {
            Stream pod;
            try
            {
                pod = await backend.DialPodPortAsync(podSandboxId, port, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                await ReportAsync(e);
                return;
            }
            await using (pod)
            {
                try
                {
                    await PodPortSplice.RunAsync(data, data, pod, data.CloseWriteAsync, ct);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException && !ct.IsCancellationRequested)
                {
                    await ReportAsync(e);
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client or the session went away mid-forward.
        }
        finally
        {
            await data.DisposeAsync();
            await error.DisposeAsync();
        }

        async Task ReportAsync(Exception e)
        {
            var message = $"error forwarding port {port} to pod {podSandboxId}: {e.Message}";
            log.Information("{Message}", message);
            await error.WriteAsync(Encoding.UTF8.GetBytes(message), ct);
        }
    }
}
