using System.Text;
using k8s;

namespace CriSharp.Streaming.Tests;

/// <summary>
/// Interop with an independent implementation: the official C# Kubernetes client (KubernetesClient on NuGet) runs an
/// exec through its own WebSocket, demuxer and status handling. Its API builds apiserver URLs, so its WebSocket
/// builder is pointed at our one-time URL instead; everything after the connection is the library's code.
/// </summary>
public sealed class KubernetesClientInteropTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public async Task Kubernetes_client_exec_gets_output_and_exit_code(int code)
    {
        await using var h = await StreamingHarness.StartAsync();
        var url = h.Exec($"exit {code}");
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" })
        {
            CreateWebSocketBuilder = () => new RedirectedWebSocketBuilder(url),
        };
        var stdout = "";
        int exitCode = await client.NamespacedPodExecAsync("pod", "default", "c1", ["exit", code.ToString()], tty: false,
            async (stdin, output, error) =>
            {
                using var reader = new StreamReader(output, Encoding.UTF8);
                stdout = await reader.ReadToEndAsync();
            }, CancellationToken.None);
        Assert.Equal(code, exitCode);
        Assert.Equal("exiting\n", stdout);
    }

    [Fact]
    public async Task Kubernetes_client_stdin_reaches_the_process_over_v5()
    {
        await using var h = await StreamingHarness.StartAsync();
        var url = h.Exec("echo", stdin: true);
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" })
        {
            CreateWebSocketBuilder = () => new RedirectedWebSocketBuilder(url),
        };
        using var socket = await client.WebSocketNamespacedPodExecAsync("pod", "default", ["echo"], "c1",
            stderr: true, stdin: true, stdout: true, tty: false, webSocketSubProtocol: WebSocketProtocol.V5BinaryWebsocketProtocol);
        using var demuxer = new StreamDemuxer(socket, StreamType.RemoteCommand);
        demuxer.Start();
        var stdout = demuxer.GetStream(ChannelIndex.StdOut, null);
        await demuxer.Write(ChannelIndex.StdIn, Encoding.UTF8.GetBytes("interop\n"), 0, 8);
        await demuxer.CloseChannel(ChannelIndex.StdIn, CancellationToken.None);
        var buffer = new byte[64];
        int n = await stdout.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("interop\n", Encoding.UTF8.GetString(buffer, 0, n));
        var process = Assert.Single(h.Backend.Processes);
        await process.Exited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(process.StdinClosed);
    }

    /// <summary>Connects the library's WebSocket to our streaming URL whatever apiserver URL it built.</summary>
    sealed class RedirectedWebSocketBuilder(Uri streamingUrl) : WebSocketBuilder
    {
        public override Task<System.Net.WebSockets.WebSocket> BuildAndConnectAsync(Uri uri, CancellationToken ct) =>
            base.BuildAndConnectAsync(new UriBuilder(streamingUrl) { Scheme = "ws" }.Uri, ct);
    }
}
