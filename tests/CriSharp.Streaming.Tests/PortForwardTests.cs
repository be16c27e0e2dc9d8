using System.Net;
using System.Net.Sockets;
using System.Text;
using CriSharp.TestSupport.Streaming;

namespace CriSharp.Streaming.Tests;

/// <summary>Port forward over SPDY (data/error stream pairs) and WebSocket (channel pairs per port).</summary>
public sealed class PortForwardTests : IAsyncLifetime
{
    StreamingHarness _h = null!;

    public async Task InitializeAsync() => _h = await StreamingHarness.StartAsync();
    public async Task DisposeAsync() => await _h.DisposeAsync();

    Uri PortForward(params int[] ports) => _h.Url(new PortForwardSessionRequest("pod1", ports));

    async Task<TestSpdyClient> ConnectAsync(Uri url)
    {
        var upgrade = await TestSpdyClient.ConnectAsync(url, ["portforward.k8s.io"]);
        Assert.Equal(101, upgrade.Status);
        Assert.Equal("portforward.k8s.io", upgrade.Headers["X-Stream-Protocol-Version"].Single());
        return upgrade.Client!;
    }

    [Fact]
    public async Task Spdy_pairs_by_request_id_and_dials_each_port()
    {
        await using var client = await ConnectAsync(PortForward());
        // kubectl's order: the error stream first, then data, both naming the port and the request id.
        var error0 = await client.OpenStreamAsync(("streamType", "error"), ("port", "8080"), ("requestID", "0"));
        var error1 = await client.OpenStreamAsync(("streamType", "error"), ("port", "9090"), ("requestID", "1"));
        var data1 = await client.OpenStreamAsync(("streamType", "data"), ("port", "9090"), ("requestID", "1"));
        var data0 = await client.OpenStreamAsync(("streamType", "data"), ("port", "8080"), ("requestID", "0"));
        Assert.True(data0.Accepted && data1.Accepted && error0.Accepted && error1.Accepted);

        await data0.WriteAsync("GET / HTTP/1.0\r\n\r\n");
        await data1.WriteAsync("hello");
        Assert.Equal("port 8080: GET / HTTP/1.0\r\n\r\n", await data0.ReadUntilAsync("\r\n\r\n"));
        Assert.Equal("port 9090: hello", await data1.ReadUntilAsync("hello"));
        Assert.Equal(["dial pod1 8080", "dial pod1 9090"], _h.Backend.Calls.Order());
    }

    [Fact]
    public async Task Spdy_reports_a_refused_port_on_the_error_stream()
    {
        _h.Backend.RefusedPort = 81;
        await using var client = await ConnectAsync(PortForward());
        var error = await client.OpenStreamAsync(("streamType", "error"), ("port", "81"), ("requestID", "5"));
        var data = await client.OpenStreamAsync(("streamType", "data"), ("port", "81"), ("requestID", "5"));
        Assert.Contains("error forwarding port 81 to pod pod1", await error.ReadToEndTextAsync());
        Assert.Empty(await data.ReadToEndAsync());
    }

    [Fact]
    public async Task Spdy_refuses_streams_without_a_valid_port_or_type()
    {
        await using var client = await ConnectAsync(PortForward());
        Assert.Equal(3u, await (await client.OpenStreamAsync(("streamType", "data"), ("requestID", "1"))).ResetReceived.Task);
        Assert.Equal(3u, await (await client.OpenStreamAsync(("streamType", "data"), ("port", "0"), ("requestID", "1"))).ResetReceived.Task);
        Assert.Equal(3u, await (await client.OpenStreamAsync(("streamType", "stdin"), ("port", "80"), ("requestID", "1"))).ResetReceived.Task);
        Assert.Empty(_h.Backend.Calls);
    }

    [Fact]
    public async Task Spdy_pairs_legacy_clients_without_request_ids_by_stream_id()
    {
        await using var client = await ConnectAsync(PortForward());
        var data = await client.OpenStreamAsync(("streamType", "data"), ("port", "7000"));
        var error = await client.OpenStreamAsync(("streamType", "error"), ("port", "7000"));
        await data.WriteAsync("old");
        Assert.Equal("port 7000: old", await data.ReadUntilAsync("old"));
        Assert.True(error.Accepted);
    }

    [Fact]
    public async Task Spdy_half_close_reaches_a_socket_in_the_pod_and_its_answer_comes_back()
    {
        // A pod port that reads the whole request (until our FIN) before answering, as an HTTP/1.0 server does.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = Task.Run(async () =>
        {
            using var conn = await listener.AcceptTcpClientAsync();
            var stream = conn.GetStream();
            var request = new MemoryStream();
            await stream.CopyToAsync(request);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"got {request.Length} bytes"));
        });
        await using var h = await StreamingHarness.StartAsync(backend: new TcpBackend(((IPEndPoint)listener.LocalEndpoint).Port));
        var upgrade = await TestSpdyClient.ConnectAsync(h.Url(new PortForwardSessionRequest("pod1", [])), ["portforward.k8s.io"]);
        await using var client = upgrade.Client!;
        var error = await client.OpenStreamAsync(("streamType", "error"), ("port", "80"), ("requestID", "0"));
        var data = await client.OpenStreamAsync(("streamType", "data"), ("port", "80"), ("requestID", "0"));
        await data.WriteAsync(new byte[100_000]);
        await data.CloseAsync();
        Assert.Equal("got 100000 bytes", await data.ReadToEndTextAsync());
        Assert.Empty(await error.ReadToEndAsync());
        await server;
    }

    [Fact]
    public async Task WebSocket_opens_a_channel_pair_per_port_announced_by_the_port_number()
    {
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(PortForward(8080, 9090), "v4.channel.k8s.io");
        await using var c = ws!;
        Assert.Equal(new byte[] { 0x90, 0x1F }, await c.ReadMessageAsync(0)); // 8080 little-endian
        Assert.Equal(new byte[] { 0x90, 0x1F }, await c.ReadMessageAsync(1));
        Assert.Equal(new byte[] { 0x82, 0x23 }, await c.ReadMessageAsync(2)); // 9090
        Assert.Equal(new byte[] { 0x82, 0x23 }, await c.ReadMessageAsync(3));

        await c.SendAsync(2, "to 9090");
        await c.SendAsync(0, "to 8080");
        Assert.Equal("port 9090: to 9090", await c.ReadUntilAsync(2, "to 9090"));
        Assert.Equal("port 8080: to 8080", await c.ReadUntilAsync(0, "to 8080"));
    }

    [Fact]
    public async Task WebSocket_reports_a_refused_port_on_its_error_channel()
    {
        _h.Backend.RefusedPort = 81;
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(PortForward(81), "v4.channel.k8s.io");
        await using var c = ws!;
        await c.ReadMessageAsync(1); // the port announcement
        Assert.Contains("error forwarding port 81", Encoding.UTF8.GetString(await c.ReadMessageAsync(1)));
    }

    [Fact]
    public async Task WebSocket_takes_ports_from_the_query_when_the_request_named_none()
    {
        var url = new Uri(PortForward() + "?ports=5000");
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(url, "portforward.k8s.io");
        await using var c = ws!;
        Assert.Equal(new byte[] { 0x88, 0x13 }, await c.ReadMessageAsync(0));
        await c.SendAsync(0, "q");
        Assert.Equal("port 5000: q", await c.ReadUntilAsync(0, "q"));
    }

    /// <summary>Dials a real local TCP port, so half-close can be observed.</summary>
    sealed class TcpBackend(int port) : IStreamingBackend
    {
        public Task<IStreamingProcess> ExecAsync(string containerId, IReadOnlyList<string> command, bool tty, bool stdin, CancellationToken ct) => throw new NotSupportedException();
        public Task<IStreamingProcess> AttachAsync(string containerId, bool tty, bool stdin, CancellationToken ct) => throw new NotSupportedException();

        public async Task<Stream> DialPodPortAsync(string podSandboxId, int ignored, CancellationToken ct)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port, ct);
            return new NetworkStream(tcp.Client, ownsSocket: true);
        }
    }
}
