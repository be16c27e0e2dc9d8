using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.TestSupport.Streaming;
using Grpc.Core;
using static CriSharp.Integration.Tests.Streaming.StreamingBed;

namespace CriSharp.Integration.Tests.Streaming;

/// <summary>
/// Exec, attach and port-forward end to end: CRI call on the daemon's socket, the URL it returns, our own SPDY/3.1 and
/// WebSocket clients (tests/CriSharp.TestSupport/Streaming), real runc/crun, conmon and pod network namespaces.
/// </summary>
public sealed class StreamingEndToEndTests(StreamingBed bed) : IClassFixture<StreamingBed>
{
    const int Stdin = 0, Stdout = 1, Stderr = 2, Error = 3, Resize = 4;
    RuntimeService.RuntimeServiceClient Runtime => bed.Runtime;

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Exec_over_spdy_v4_echoes_stdin_keeps_stderr_apart_and_reports_exit_codes(string handler)
    {
        var c = (await bed.SleeperAsync(handler)).ContainerId;

        await using (var s = await SpdyAsync(await bed.ExecUrlAsync(c, ["cat"], stdin: true), stdin: true))
        {
            await s.Stdin!.WriteAsync("hello\n");
            Assert.Equal("hello\n", await s.Stdout!.ReadUntilAsync("hello\n"));
            await s.Stdin.WriteAsync("world\n");
            await s.Stdin.CloseAsync(); // cat sees EOF and exits
            Assert.Equal("world\n", await s.Stdout.ReadToEndTextAsync());
            Assert.Equal("", await s.Stderr!.ReadToEndTextAsync());
            Assert.Equal(0, ExitCode(await s.StatusAsync()));
        }

        await using (var s = await SpdyAsync(await bed.ExecUrlAsync(c, ["sh", "-c", "echo out; echo err >&2; exit 3"])))
        {
            Assert.Equal("out\n", await s.Stdout!.ReadToEndTextAsync());
            Assert.Equal("err\n", await s.Stderr!.ReadToEndTextAsync());
            Assert.Equal(3, ExitCode(await s.StatusAsync()));
        }

        await using (var s = await SpdyAsync(await bed.ExecUrlAsync(c, ["sh", "-c", "echo fine"], stderr: false), stderr: false))
        {
            Assert.Equal("fine\n", await s.Stdout!.ReadToEndTextAsync());
            Assert.Equal(0, ExitCode(await s.StatusAsync()));
        }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Exec_over_websocket_v5_echoes_stdin_until_closed_and_reports_exit_codes(string handler)
    {
        var c = (await bed.SleeperAsync(handler)).ContainerId;

        await using (var ws = await WebSocketAsync(await bed.ExecUrlAsync(c, ["cat"], stdin: true), V5, V4))
        {
            Assert.Equal(V5, ws.Protocol);
            await ws.SendAsync(Stdin, "one\n");
            Assert.Equal("one\n", await ws.ReadUntilAsync(Stdout, "one\n"));
            await ws.SendAsync(Stdin, "two\n");
            await ws.CloseChannelAsync(Stdin); // v5: stdin ends, cat exits
            Assert.Equal("two\n", await ws.ReadToEndTextAsync(Stdout));
            Assert.Equal("", await ws.ReadToEndTextAsync(Stderr));
            Assert.Equal(0, ExitCode(Json(await ws.ReadToEndAsync(Error))));
        }

        await using (var ws = await WebSocketAsync(await bed.ExecUrlAsync(c, ["sh", "-c", "echo out; echo err >&2; exit 7"]), V5))
        {
            Assert.Equal("out\n", await ws.ReadToEndTextAsync(Stdout));
            Assert.Equal("err\n", await ws.ReadToEndTextAsync(Stderr));
            Assert.Equal(7, ExitCode(Json(await ws.ReadToEndAsync(Error))));
        }

        // v4 over WebSocket: the same status, ended by the socket closing.
        await using (var ws = await WebSocketAsync(await bed.ExecUrlAsync(c, ["sh", "-c", "echo v4; exit 2"], stderr: false), V4))
        {
            Assert.Equal(V4, ws.Protocol);
            Assert.Equal("v4\n", await ws.ReadToEndTextAsync(Stdout));
            Assert.Equal(2, ExitCode(Json(await ws.ReadToEndAsync(Error))));
        }
    }

    [Theory]
    [InlineData("runc", "spdy")]
    [InlineData("runc", "websocket")]
    [InlineData("crun", "spdy")]
    [InlineData("crun", "websocket")]
    public async Task Exec_with_a_tty_sees_resizes_in_stty_size_and_reports_the_exit_code(string handler, string transport)
    {
        var c = (await bed.SleeperAsync(handler)).ContainerId;
        var url = await bed.ExecUrlAsync(c, ["sh"], stdin: true, stderr: false, tty: true);
        Func<string, Task> type, resize;
        OutputCollector output;
        Func<Task<int>> exit;
        IAsyncDisposable session;
        if (transport == "spdy")
        {
            var s = await SpdyAsync(url, stdin: true, stderr: false, tty: true);
            session = s;
            Assert.Null(s.Stderr);
            type = s.Stdin!.WriteAsync;
            resize = s.Resize!.WriteAsync;
            output = OutputCollector.Of(s.Stdout!);
            exit = async () => ExitCode(await s.StatusAsync());
        }
        else
        {
            var ws = await WebSocketAsync(url, V5);
            session = ws;
            type = text => ws.SendAsync(Stdin, text);
            resize = text => ws.SendAsync(Resize, text);
            output = OutputCollector.Of(ws, Stdout);
            exit = async () => ExitCode(Json(await ws.ReadToEndAsync(Error)));
        }
        await using (session)
        {
            foreach (var (w, h) in new[] { (100, 30), (132, 43) })
            {
                await resize($"{{\"Width\":{w},\"Height\":{h}}}");
                // The size reaches the terminal asynchronously (runc relays it on SIGWINCH): ask until it shows.
                var seen = false;
                for (var i = 0; i < 40 && !seen; i++)
                {
                    await type("stty size\n");
                    seen = await output.WaitForAsync($"{h} {w}\r\n", TimeSpan.FromMilliseconds(250));
                }
                Assert.True(seen, $"stty size never printed '{h} {w}': '{output.Text}'");
            }
            await type("exit 5\n");
            Assert.Equal(5, await exit());
            await output.Done.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Attach_over_spdy_feeds_stdin_closes_it_once_and_leaves_the_log_alone()
    {
        var pod = await bed.RunPodAsync("attach-spdy", "runc", ["sh", "-c", "read line; echo got:$line; cat; echo eof-seen"],
            c => { c.Stdin = true; c.StdinOnce = true; });
        var url = new Uri((await Runtime.AttachAsync(new AttachRequest { ContainerId = pod.ContainerId, Stdin = true, Stdout = true, Stderr = true })).Url);
        Assert.Matches(@"^http://127\.0\.0\.1:\d+/attach/[A-Za-z0-9_-]+$", url.ToString());
        await using var s = await SpdyAsync(url, stdin: true);
        await s.Stdin!.WriteAsync("hello\n");
        await s.Stdout!.ReadUntilAsync("got:hello\n");
        await s.Stdin.WriteAsync("more\n");
        await s.Stdout.ReadUntilAsync("more\n");
        await s.Stdin.CloseAsync(); // stdin_once: the container's stdin closes, cat sees EOF
        Assert.Equal("eof-seen\n", await s.Stdout.ReadToEndTextAsync());
        Assert.Equal("Success", (await s.StatusAsync()).GetProperty("status").GetString());

        var status = await bed.WaitForStateAsync(pod.ContainerId, ContainerState.ContainerExited);
        Assert.Equal(0, status.ExitCode);
        // conmon logged everything while we were attached.
        var log = await WaitLogAsync(pod.LogPath, " stdout F got:hello", " stdout F more", " stdout F eof-seen");
        Assert.Equal(3, log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Attach_over_websocket_v5_closes_stdin_on_the_close_signal_on_crun()
    {
        var pod = await bed.RunPodAsync("attach-ws", "crun", ["sh", "-c", "read line; echo got:$line; cat; echo eof-seen >&2"],
            c => { c.Stdin = true; c.StdinOnce = true; });
        var url = new Uri((await Runtime.AttachAsync(new AttachRequest { ContainerId = pod.ContainerId, Stdin = true, Stdout = true, Stderr = true })).Url);
        await using var ws = await WebSocketAsync(url, V5);
        await ws.SendAsync(Stdin, "hi\n");
        await ws.ReadUntilAsync(Stdout, "got:hi\n");
        await ws.CloseChannelAsync(Stdin);
        Assert.Equal("eof-seen\n", await ws.ReadToEndTextAsync(Stderr));
        Assert.Equal("Success", Json(await ws.ReadToEndAsync(Error)).GetProperty("status").GetString());
        Assert.Equal(0, (await bed.WaitForStateAsync(pod.ContainerId, ContainerState.ContainerExited)).ExitCode);
        await WaitLogAsync(pod.LogPath, " stdout F got:hi", " stderr F eof-seen");
    }

    [Fact]
    public async Task Port_forward_over_spdy_and_websocket_reaches_an_httpd_bound_to_the_pods_localhost()
    {
        var token = "page-" + Guid.NewGuid().ToString("N")[..8];
        var pod = await bed.RunPodAsync("pf-cni", "runc", ["sh", "-c", $"mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]);
        await bed.WaitForStateAsync(pod.ContainerId, ContainerState.ContainerRunning);

        // From the node, the pod IP does not serve it: only the pod's own localhost does.
        var ip = await bed.Net.PodIpAsync(pod.PodId);
        Assert.StartsWith(bed.Net.SubnetPrefix + ".", ip);
        await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Parse(ip), 8080).WaitAsync(TimeSpan.FromSeconds(3));
        });

        var page = await GetOverSpdyAsync(pod.PodId);
        Assert.Contains("200 OK", page);
        Assert.Contains(token, page);

        var url = new Uri((await Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = pod.PodId, Port = { 8080 } })).Url);
        await using var ws = await WebSocketAsync(url, V4);
        Assert.Equal(new byte[] { 0x90, 0x1F }, await ws.ReadMessageAsync(0)); // data channel announces 8080
        Assert.Equal(new byte[] { 0x90, 0x1F }, await ws.ReadMessageAsync(1)); // error channel too
        await ws.SendAsync(0, "GET /index.html HTTP/1.0\r\n\r\n");
        var answer = await ws.ReadUntilAsync(0, token);
        Assert.Contains("200 OK", answer);
    }

    [Fact]
    public async Task Port_forward_reaches_a_pod_whose_netns_has_only_loopback()
    {
        // The daemon reads the CNI conf dir on every RunPodSandbox: a loopback-only network sorts first for this pod.
        var loopback = Path.Combine(bed.Net.Daemon.CniConfDir, "05-loopback.conflist");
        File.WriteAllText(loopback, DaemonProcess.LoopbackConflist);
        StreamingBed.RunningPod pod;
        try
        {
            pod = await bed.RunPodAsync("pf-lo", "crun", ["sh", "-c", "mkdir -p /www && echo lo-only > /www/index.html && exec httpd -f -p 127.0.0.1:8081 -h /www"]);
        }
        finally
        {
            File.Delete(loopback);
        }
        await bed.WaitForStateAsync(pod.ContainerId, ContainerState.ContainerRunning);
        Assert.Equal("", await bed.Net.PodIpAsync(pod.PodId));
        Assert.Contains("lo-only", await GetOverSpdyAsync(pod.PodId, 8081));

        // Once the pod is stopped there is nothing to forward to.
        await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod.PodId });
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = pod.PodId, Port = { 8081 } }));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Port_forward_in_a_host_network_pod_reaches_the_nodes_localhost(string handler)
    {
        // critest's shape: only the network mode is set, so PID and IPC stay POD (an infra process holds the PID ns).
        var port = 20000 + Random.Shared.Next(5000);
        var token = "hostnet-" + Guid.NewGuid().ToString("N")[..8];
        var config = bed.Net.PodConfig("pf-hostnet");
        config.Linux.SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node } };
        var podId = (await Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler })).PodSandboxId;
        try
        {
            var id = await bed.StartContainerAsync(podId, config, "web", ["sh", "-c", $"mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p 127.0.0.1:{port} -h /www"]);
            await bed.WaitForStateAsync(id, ContainerState.ContainerRunning);
            // The container serves on the node's own loopback...
            var direct = "";
            for (var i = 0; i < 50 && !direct.Contains(token); i++)
            {
                try { direct = await new HttpClient().GetStringAsync($"http://127.0.0.1:{port}/"); }
                catch (HttpRequestException) { await Task.Delay(100); }
            }
            Assert.Contains(token, direct);
            // ...and a port-forward to the pod reaches the same server.
            Assert.Contains(token, await GetOverSpdyAsync(podId, port));
        }
        finally { await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }); }
    }

    /// <summary>An HTTP/1.0 GET through a SPDY port-forward (kubectl's stream pair), retried while httpd is still starting.</summary>
    async Task<string> GetOverSpdyAsync(string podId, int port = 8080)
    {
        for (var attempt = 0; ; attempt++)
        {
            var url = new Uri((await Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = podId })).Url);
            var upgrade = await TestSpdyClient.ConnectAsync(url, ["portforward.k8s.io"]);
            Assert.Equal(101, upgrade.Status);
            await using var client = upgrade.Client!;
            var error = await client.OpenStreamAsync(("streamType", "error"), ("port", $"{port}"), ("requestID", "0"));
            var data = await client.OpenStreamAsync(("streamType", "data"), ("port", $"{port}"), ("requestID", "0"));
            await data.WriteAsync("GET / HTTP/1.0\r\n\r\n");
            var page = await data.ReadToEndTextAsync();
            var problem = await error.ReadToEndTextAsync();
            if (problem.Length == 0 && page.Length > 0) return page;
            if (attempt == 20) throw new InvalidOperationException($"port-forward to {port} failed: '{problem}' (page '{page}')");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Five_concurrent_execs_run_at_once_and_stay_apart()
    {
        var c = (await bed.SleeperAsync("runc")).ContainerId;
        var sw = Stopwatch.StartNew();
        var outputs = await Task.WhenAll(Enumerable.Range(0, 5).Select(async i =>
        {
            var url = await bed.ExecUrlAsync(c, ["sh", "-c", $"sleep 1; echo session-{i}; exit {i}"]);
            if (i % 2 == 0)
            {
                await using var s = await SpdyAsync(url);
                var text = await s.Stdout!.ReadToEndTextAsync();
                Assert.Equal(i, ExitCode(await s.StatusAsync()));
                return text;
            }
            await using var ws = await WebSocketAsync(url, V5);
            var wsText = await ws.ReadToEndTextAsync(Stdout);
            Assert.Equal(i, ExitCode(Json(await ws.ReadToEndAsync(Error))));
            return wsText;
        }));
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"session-{i}\n"), outputs);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"5 execs of `sleep 1` took {sw.Elapsed}: not concurrent");
    }

    [Fact]
    public async Task A_used_or_unknown_token_is_404_and_starts_nothing()
    {
        var c = (await bed.SleeperAsync("runc")).ContainerId;
        var url = await bed.ExecUrlAsync(c, ["sh", "-c", "echo ran >> /tmp/reuse-marker"], stderr: false);
        await using (var s = await SpdyAsync(url, stderr: false))
            Assert.Equal(0, ExitCode(await s.StatusAsync()));

        var again = await TestSpdyClient.ConnectAsync(url, [V4]);
        Assert.Equal(404, again.Status);
        Assert.Null(again.Client);
        var (ws, status) = await TestChannelWebSocketClient.ConnectAsync(url, V5);
        Assert.Null(ws);
        Assert.Equal(HttpStatusCode.NotFound, status);
        var unknown = new Uri(url, "/exec/" + new string('A', 32));
        Assert.Equal(404, (await TestSpdyClient.ConnectAsync(unknown, [V4])).Status);
        // A token is only good for its verb.
        var other = await bed.ExecUrlAsync(c, ["sh", "-c", "echo ran >> /tmp/reuse-marker"], stderr: false);
        Assert.Equal(404, (await TestSpdyClient.ConnectAsync(new Uri(other.ToString().Replace("/exec/", "/attach/")), [V4])).Status);

        await Task.Delay(300);
        var r = await Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = c, Cmd = { "cat", "/tmp/reuse-marker" }, Timeout = 10 });
        Assert.Equal("ran\n", r.Stdout.ToStringUtf8());
    }

    [Fact]
    public async Task Exec_and_attach_requests_are_validated_before_a_url_is_issued()
    {
        var running = await bed.SleeperAsync("runc");
        var c = running.ContainerId;

        async Task Refused(StatusCode code, Func<Task> call, string detail)
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(code, e.StatusCode);
            Assert.Contains(detail, e.Status.Detail);
        }

        await Refused(StatusCode.InvalidArgument, async () => await Runtime.ExecAsync(new ExecRequest { ContainerId = c, Cmd = { "sh" }, Tty = true, Stdout = true, Stderr = true }), "tty");
        await Refused(StatusCode.InvalidArgument, async () => await Runtime.ExecAsync(new ExecRequest { ContainerId = c, Cmd = { "sh" } }), "stdin");
        await Refused(StatusCode.InvalidArgument, async () => await Runtime.ExecAsync(new ExecRequest { ContainerId = c, Stdout = true }), "cmd");
        await Refused(StatusCode.InvalidArgument, async () => await Runtime.ExecAsync(new ExecRequest { ContainerId = c, Cmd = { "" }, Stdout = true }), "cmd");
        await Refused(StatusCode.InvalidArgument, async () => await Runtime.AttachAsync(new AttachRequest { ContainerId = c, Tty = true, Stdout = true, Stderr = true }), "tty");
        await Refused(StatusCode.InvalidArgument, async () => await Runtime.AttachAsync(new AttachRequest { ContainerId = c }), "stdin");

        var stopped = await bed.StartContainerAsync(running.PodId, running.Config, "stopped", ["sleep", "3600"]);
        await Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = stopped, Timeout = 0 });
        foreach (var call in new Func<Task>[]
        {
            async () => await Runtime.ExecAsync(new ExecRequest { ContainerId = stopped, Cmd = { "true" }, Stdout = true }),
            async () => await Runtime.AttachAsync(new AttachRequest { ContainerId = stopped, Stdout = true }),
            async () => await Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = stopped, Cmd = { "true" }, Timeout = 5 }),
        })
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            Assert.True(e.StatusCode is StatusCode.FailedPrecondition or StatusCode.NotFound, $"{e.StatusCode}: {e.Status.Detail}");
            Assert.Contains(stopped, e.Status.Detail);
        }
        await Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = stopped });
    }
}
