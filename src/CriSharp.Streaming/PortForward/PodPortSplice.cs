using System.Net.Sockets;

namespace CriSharp.Streaming.PortForward;

/// <summary>Copies one forwarded connection both ways between the client's stream and the pod's port.</summary>
static class PodPortSplice
{
    /// <summary>
    /// Runs until the pod's side ends (then the client is told with <paramref name="endClientWrite"/>) or either side fails.
    /// The client finishing its writes is passed on as a half-close when the pod connection is a socket, so a
    /// request/response exchange (HTTP/1.0, a command over nc) still gets its answer.
    /// </summary>
    public static async Task RunAsync(Stream fromClient, Stream toClient, Stream pod, Func<Task> endClientWrite, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var toPod = CopyClientToPodAsync(fromClient, pod, stop);
        try
        {
            await CopyAsync(pod, toClient, stop.Token);
            await endClientWrite();
        }
        finally
        {
            await stop.CancelAsync();
            await toPod;
        }
    }

    static async Task CopyClientToPodAsync(Stream client, Stream pod, CancellationTokenSource stop)
    {
        try
        {
            await CopyAsync(client, pod, stop.Token);
            if (pod is NetworkStream { Socket: var socket }) socket.Shutdown(SocketShutdown.Send);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            // The client reset its stream or the pod stopped reading: nothing more will flow either way.
            await stop.CancelAsync();
        }
    }

    static async Task CopyAsync(Stream from, Stream to, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        int n;
        while ((n = await from.ReadAsync(buffer, ct)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, n), ct);
            await to.FlushAsync(ct);
        }
    }
}
