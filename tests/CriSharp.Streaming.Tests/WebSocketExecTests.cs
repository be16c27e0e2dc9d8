using System.Net;
using System.Text.Json;
using CriSharp.TestSupport.Streaming;

namespace CriSharp.Streaming.Tests;

/// <summary>Exec and attach over the WebSocket channel protocol (v4, v5, base64) with the test client.</summary>
public sealed class WebSocketExecTests : IAsyncLifetime
{
    const int Stdin = 0, Stdout = 1, Stderr = 2, Error = 3, Resize = 4;
    StreamingHarness _h = null!;

    public async Task InitializeAsync() => _h = await StreamingHarness.StartAsync();
    public async Task DisposeAsync() => await _h.DisposeAsync();

    static JsonElement Status(byte[] bytes) => JsonDocument.Parse(bytes).RootElement.Clone();

    [Fact]
    public async Task V5_echoes_stdin_until_the_client_closes_it()
    {
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec("echo", stdin: true), "v5.channel.k8s.io", "v4.channel.k8s.io");
        await using var c = ws!;
        Assert.Equal("v5.channel.k8s.io", c.Protocol);
        await c.SendAsync(Stdin, "one\ntwo\n");
        await c.CloseChannelAsync(Stdin);
        Assert.Equal("one\ntwo\n", await c.ReadToEndTextAsync(Stdout));
        Assert.Equal("err:one\nerr:two\n", await c.ReadToEndTextAsync(Stderr));
        Assert.Equal("Success", Status(await c.ReadToEndAsync(Error)).GetProperty("status").GetString());
        // v5 lets the server end its channels too, before the socket closes.
        Assert.Contains(Stdout, c.ClosedByServer);
        Assert.Contains(Error, c.ClosedByServer);
        Assert.True(Assert.Single(_h.Backend.Processes).StdinClosed);
    }

    [Theory]
    [InlineData("v4.channel.k8s.io", 0)]
    [InlineData("v4.channel.k8s.io", 7)]
    [InlineData("v5.channel.k8s.io", 7)]
    public async Task Exit_code_arrives_as_a_status_on_the_error_channel(string protocol, int code)
    {
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec($"exit {code}"), protocol);
        await using var c = ws!;
        Assert.Equal("exiting\n", await c.ReadToEndTextAsync(Stdout));
        var status = Status(await c.ReadToEndAsync(Error));
        if (code == 0)
        {
            Assert.Equal("Success", status.GetProperty("status").GetString());
            return;
        }
        Assert.Equal("NonZeroExitCode", status.GetProperty("reason").GetString());
        Assert.Equal(code.ToString(), status.GetProperty("details").GetProperty("causes")[0].GetProperty("message").GetString());
    }

    [Fact]
    public async Task The_session_is_announced_with_an_empty_stdout_message()
    {
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec("print hi"), "v4.channel.k8s.io");
        await using var c = ws!;
        Assert.Equal("hi", await c.ReadToEndTextAsync(Stdout));
        Assert.Equal(Stdout, c.EmptyMessages.First());
    }

    [Fact]
    public async Task V4_stdin_flows_while_the_socket_is_open()
    {
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec("echo", stdin: true), "v4.channel.k8s.io");
        await using var c = ws!;
        await c.SendAsync(Stdin, "ping\n");
        Assert.Contains("ping\n", await c.ReadUntilAsync(Stdout, "ping\n"));
    }

    [Fact]
    public async Task Base64_subprotocol_carries_text_frames()
    {
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec("exit 2"), "v4.base64.channel.k8s.io");
        await using var c = ws!;
        Assert.Equal("v4.base64.channel.k8s.io", c.Protocol);
        Assert.Equal("exiting\n", await c.ReadToEndTextAsync(Stdout));
        Assert.Equal("2", Status(await c.ReadToEndAsync(Error)).GetProperty("details").GetProperty("causes")[0].GetProperty("message").GetString());
    }

    [Fact]
    public async Task Tty_resize_channel_reaches_the_process()
    {
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec("size", tty: true), "v5.channel.k8s.io");
        await using var c = ws!;
        await c.SendAsync(Resize, "{\"Width\":132,\"Height\":43}");
        Assert.Equal("43 132\n", await c.ReadToEndTextAsync(Stdout));
    }

    [Fact]
    public async Task Attach_over_websocket_closes_stdin_on_the_v5_signal()
    {
        var url = _h.Url(new AttachSessionRequest("c1", Tty: false, Stdin: true, Stdout: true, Stderr: false));
        var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(url, "v5.channel.k8s.io");
        await using var c = ws!;
        await c.SendAsync(Stdin, "in\n");
        await c.CloseChannelAsync(Stdin);
        Assert.Equal("in\n", await c.ReadToEndTextAsync(Stdout));
        Assert.Equal("Success", Status(await c.ReadToEndAsync(Error)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_unsupported_subprotocol_is_refused()
    {
        var (ws, status) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec("print x"), "v9.channel.k8s.io");
        Assert.Null(ws);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Empty(_h.Backend.Calls);
    }

    [Fact]
    public async Task Concurrent_websocket_sessions_stay_separate()
    {
        await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
        {
            var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(_h.Exec($"print session-{i}"), "v5.channel.k8s.io");
            await using var c = ws!;
            Assert.Equal($"session-{i}", await c.ReadToEndTextAsync(Stdout));
        }));
    }
}
