using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using CriSharp.TestSupport.Streaming;
using Grpc.Core;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// ExecSync and the streaming calls (Exec, Attach, PortForward) as kubelet uses them: ExecSync for exec probes, the
/// URLs for <c>kubectl exec/attach/port-forward</c> and <c>crictl exec</c>. The URLs are driven over both transports
/// of the kubelet's streaming library (k8s.io/kubelet/pkg/cri/streaming, which runtimes built on it inherit): SPDY/3.1
/// (what kubectl and crictl speak; <see cref="TestSpdyClient"/>, our spec-written client from
/// tests/CriSharp.TestSupport) and the WebSocket channel protocol (<see cref="ChannelWebSocket"/>, subprotocol
/// <c>v4.channel.k8s.io</c>). The runner must reach the URL, so it runs on the node, like the kubelet. Containers run
/// the busybox test image.
/// </summary>
[CaseArea("Streaming")]
public sealed class StreamingCases
{
    private const string V4 = "v4.channel.k8s.io";
    private const int Stdin = 0, Stdout = 1, Stderr = 2, Error = 3;
    private static readonly TimeSpan StateWait = TimeSpan.FromSeconds(15);

    [Case("ExecSync returns the command's stdout, stderr and exit code")]
    public async Task ExecSyncOutput(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "execsync");
        var r = await ctx.Runtime.ExecSyncAsync(new ExecSyncRequest
        {
            ContainerId = f.ContainerId,
            Cmd = { "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3" },
            Timeout = 10,
        }, ctx.Options);
        Check.Equal("to-stdout\n", r.Stdout.ToStringUtf8(), "stdout");
        Check.Equal("to-stderr\n", r.Stderr.ToStringUtf8(), "stderr");
        Check.Equal(3, r.ExitCode, "exit_code");

        r = await ctx.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = f.ContainerId, Cmd = { "true" }, Timeout = 10 }, ctx.Options);
        Check.Equal(0, r.ExitCode, "exit_code of true");
        Check.True(r.Stdout.IsEmpty && r.Stderr.IsEmpty, "true printed something");
    }

    // kubelet's exec probes pass the probe's timeoutSeconds; a command still running then is a probe timeout, which
    // kubelet recognises by the DeadlineExceeded code (remote_runtime.go ExecSync).
    [Case("ExecSync of a command that outlives its timeout fails with DeadlineExceeded within a few seconds")]
    public async Task ExecSyncTimeout(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "execsync-timeout");
        var sw = Stopwatch.StartNew();
        await Check.RpcFailsAsync(StatusCode.DeadlineExceeded, async () =>
            await ctx.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = f.ContainerId, Cmd = { "sleep", "60" }, Timeout = 1 }, ctx.Options),
            "ExecSync(sleep 60, timeout 1)");
        Check.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"ExecSync with timeout 1 s returned after {sw.Elapsed.TotalSeconds:F1} s");
    }

    [Case("Exec and Attach refuse tty with stderr, and no streams at all, with InvalidArgument")]
    public async Task StreamValidation(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "exec-validate");
        var c = f.ContainerId;
        await Check.RpcFailsAsync(StatusCode.InvalidArgument, async () =>
            await ctx.Runtime.ExecAsync(new ExecRequest { ContainerId = c, Cmd = { "sh" }, Tty = true, Stdout = true, Stderr = true }, ctx.Options),
            "Exec(tty, stderr)");
        await Check.RpcFailsAsync(StatusCode.InvalidArgument, async () =>
            await ctx.Runtime.ExecAsync(new ExecRequest { ContainerId = c, Cmd = { "sh" } }, ctx.Options),
            "Exec(no stdin, stdout or stderr)");
        await Check.RpcFailsAsync(StatusCode.InvalidArgument, async () =>
            await ctx.Runtime.AttachAsync(new AttachRequest { ContainerId = c, Tty = true, Stdout = true, Stderr = true }, ctx.Options),
            "Attach(tty, stderr)");
        await Check.RpcFailsAsync(StatusCode.InvalidArgument, async () =>
            await ctx.Runtime.AttachAsync(new AttachRequest { ContainerId = c }, ctx.Options),
            "Attach(no stdin, stdout or stderr)");
    }

    [Case("Exec URL (WebSocket v4.channel.k8s.io): stdin reaches the command, stdout and stderr come back apart, the exit code in the status")]
    public async Task ExecWebSocket(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "exec-ws");
        var url = (await ctx.Runtime.ExecAsync(new ExecRequest
        {
            ContainerId = f.ContainerId,
            Cmd = { "sh", "-c", "read line; echo out:$line; echo err:$line >&2; exit 3" },
            Stdin = true,
            Stdout = true,
            Stderr = true,
        }, ctx.Options)).Url;
        CheckUrl(url);
        await using (var ws = await ConnectAsync(url, ctx))
        {
            await ws.SendAsync(Stdin, "hello\n", ctx.CancellationToken);
            await ws.Closed.WaitAsync(ctx.CancellationToken);
            Check.Equal("out:hello\n", ws.Text(Stdout), "stdout");
            Check.Equal("err:hello\n", ws.Text(Stderr), "stderr");
            Check.Equal(3, ExitCode(ws.Text(Error)), "exit code from the status");
        }

        url = (await ctx.Runtime.ExecAsync(new ExecRequest { ContainerId = f.ContainerId, Cmd = { "echo", "fine" }, Stdout = true }, ctx.Options)).Url;
        await using (var ws = await ConnectAsync(url, ctx))
        {
            await ws.Closed.WaitAsync(ctx.CancellationToken);
            Check.Equal("fine\n", ws.Text(Stdout), "stdout");
            Check.Equal(0, ExitCode(ws.Text(Error)), "exit code from the status");
        }
    }

    [Case("Exec URL (SPDY/3.1 v4.channel.k8s.io): stdin echoed until the client half-closes it, stderr apart, the exit code in the status")]
    public async Task ExecSpdy(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "exec-spdy");
        var url = (await ctx.Runtime.ExecAsync(new ExecRequest { ContainerId = f.ContainerId, Cmd = { "cat" }, Stdin = true, Stdout = true, Stderr = true }, ctx.Options)).Url;
        CheckUrl(url);
        await using (var s = await SpdyAsync(url, stdin: true, tty: false))
        {
            await s.Stdin!.WriteAsync("hello\n");
            await s.Stdout!.ReadUntilAsync("hello\n");
            await s.Stdin.WriteAsync("world\n");
            await s.Stdin.CloseAsync(); // EOF for cat
            Check.Equal("world\n", await s.Stdout.ReadToEndTextAsync(), "stdout after the first line");
            Check.Equal("", await s.Stderr!.ReadToEndTextAsync(), "stderr");
            Check.Equal(0, ExitCode(await s.Error.ReadToEndTextAsync()), "exit code from the status");
        }

        url = (await ctx.Runtime.ExecAsync(new ExecRequest
        {
            ContainerId = f.ContainerId,
            Cmd = { "sh", "-c", "echo out; echo err >&2; exit 3" },
            Stdout = true,
            Stderr = true,
        }, ctx.Options)).Url;
        await using (var s = await SpdyAsync(url, stdin: false, tty: false))
        {
            Check.Equal("out\n", await s.Stdout!.ReadToEndTextAsync(), "stdout");
            Check.Equal("err\n", await s.Stderr!.ReadToEndTextAsync(), "stderr");
            Check.Equal(3, ExitCode(await s.Error.ReadToEndTextAsync()), "exit code from the status");
        }
    }

    [Case("Exec URL with a TTY (SPDY/3.1): a resize on the resize stream shows in stty size; the exit code in the status")]
    public async Task ExecTtySpdy(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "exec-tty");
        var url = (await ctx.Runtime.ExecAsync(new ExecRequest { ContainerId = f.ContainerId, Cmd = { "sh" }, Stdin = true, Stdout = true, Tty = true }, ctx.Options)).Url;
        await using var s = await SpdyAsync(url, stdin: true, tty: true);
        var output = new System.Text.StringBuilder();
        var reading = Task.Run(async () =>
        {
            while (await s.Stdout!.ReadAsync(CancellationToken.None) is { } chunk)
            {
                lock (output)
                {
                    output.Append(System.Text.Encoding.UTF8.GetString(chunk));
                }
            }
        });
        string Output()
        {
            lock (output)
            {
                return output.ToString();
            }
        }

        await s.Resize!.WriteAsync("{\"Width\":123,\"Height\":45}");
        // The size reaches the terminal asynchronously: ask until it shows.
        var seen = false;
        for (var i = 0; i < 40 && !seen; i++)
        {
            await s.Stdin!.WriteAsync("stty size\n");
            await Task.Delay(250, ctx.CancellationToken);
            seen = Output().Contains("45 123", StringComparison.Ordinal);
        }

        Check.True(seen, $"'stty size' in the TTY never printed '45 123' after the resize: '{Output().ReplaceLineEndings("\\n")}'");
        await s.Stdin!.WriteAsync("exit 5\n");
        Check.Equal(5, ExitCode(await s.Error.ReadToEndTextAsync()), "exit code from the status");
        await reading.WaitAsync(TimeSpan.FromSeconds(10), ctx.CancellationToken);
    }

    [Case("A streaming URL serves one session: using it again answers 404 and runs nothing")]
    public async Task SingleUse(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "exec-once");
        var url = (await ctx.Runtime.ExecAsync(new ExecRequest
        {
            ContainerId = f.ContainerId,
            Cmd = { "sh", "-c", "echo ran >> /tmp/once" },
            Stdout = true,
        }, ctx.Options)).Url;
        await using (var ws = await ConnectAsync(url, ctx))
        {
            await ws.Closed.WaitAsync(ctx.CancellationToken);
            Check.Equal(0, ExitCode(ws.Text(Error)), "exit code from the status");
        }

        try
        {
            await using var again = await ChannelWebSocket.ConnectAsync(url, [V4], ctx.CancellationToken);
            throw Check.Fail($"a second session on {url} was accepted");
        }
        catch (HandshakeRefusedException e)
        {
            Check.Equal(HttpStatusCode.NotFound, e.Status, "HTTP status of the reused URL");
        }

        var r = await ctx.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = f.ContainerId, Cmd = { "cat", "/tmp/once" }, Timeout = 10 }, ctx.Options);
        Check.Equal("ran\n", r.Stdout.ToStringUtf8(), "/tmp/once (one line per run of the command)");
    }

    [Case("Attach URL (WebSocket): stdin reaches the container's process and its output comes back, also to the log")]
    public async Task AttachWebSocket(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "attach-ws", ["sh", "-c", "read line; echo got:$line"], stdin: true);
        var url = (await ctx.Runtime.AttachAsync(new AttachRequest { ContainerId = f.ContainerId, Stdin = true, Stdout = true, Stderr = true }, ctx.Options)).Url;
        CheckUrl(url);
        await using var ws = await ConnectAsync(url, ctx);
        await ws.SendAsync(Stdin, "hello\n", ctx.CancellationToken);
        Check.True(await ws.WaitForTextAsync(Stdout, "got:hello\n", ctx.CancellationToken), $"attach stdout '{ws.Text(Stdout)}' lacks 'got:hello'");
        var s = await ctx.WaitContainerStateAsync(f.ContainerId, ContainerState.ContainerExited, StateWait);
        Check.Equal(0, s.ExitCode, "exit code");
        await ctx.WaitLogAsync(f.LogPath, l => l.Any(x => x.Stream == "stdout" && x.Content == "got:hello"), TimeSpan.FromSeconds(5));
    }

    [Case("PortForward URL (WebSocket): a connection reaches a port bound to 127.0.0.1 inside the pod")]
    public async Task PortForwardWebSocket(CaseContext ctx)
    {
        var token = "cri-conformance-" + Pods.Token();
        var f = await Fixture.StartAsync(ctx, "portforward",
            ["sh", "-c", $"mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]);
        var url = (await ctx.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = f.PodId, Port = { 8080 } }, ctx.Options)).Url;
        CheckUrl(url);
        string page = "", problem = "";
        for (var attempt = 0; attempt < 30; attempt++)
        {
            if (attempt > 0)
            {
                await Task.Delay(200, ctx.CancellationToken);
                url = (await ctx.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = f.PodId, Port = { 8080 } }, ctx.Options)).Url;
            }

            await using var ws = await ConnectAsync(url, ctx);
            // Each channel of the port first carries the port number (8080 = 0x1F90, little-endian).
            Check.True(await ws.WaitForMessagesAsync(0, 1, ctx.CancellationToken) && await ws.WaitForMessagesAsync(1, 1, ctx.CancellationToken),
                "the data and error channels were not opened with the port number");
            Check.True(ws.Messages(0)[0].SequenceEqual(new byte[] { 0x90, 0x1F }), $"data channel opened with [{string.Join(',', ws.Messages(0)[0])}], want 8080 little-endian");
            using var quick = CancellationTokenSource.CreateLinkedTokenSource(ctx.CancellationToken);
            quick.CancelAfter(TimeSpan.FromSeconds(5));
            try
            {
                await ws.SendAsync(0, "GET / HTTP/1.0\r\n\r\n", quick.Token);
                if (await ws.WaitForTextAsync(0, token, quick.Token))
                {
                    page = ws.Text(0);
                    break;
                }
            }
            catch (Exception e) when (e is OperationCanceledException or System.Net.WebSockets.WebSocketException && !ctx.CancellationToken.IsCancellationRequested)
            {
                // Not served (yet): a runtime may close the session when the dial fails.
            }

            // httpd may not listen yet: the error channel says so (after the port number).
            problem = string.Concat(ws.Messages(1).Skip(1).Select(m => System.Text.Encoding.UTF8.GetString(m)));
        }

        Check.True(page.Contains("200", StringComparison.Ordinal) && page.Contains(token, StringComparison.Ordinal),
            $"no page with '{token}' through the forward; last error channel: '{problem}'");
    }

    [Case("PortForward URL (SPDY/3.1 portforward.k8s.io): a data stream reaches a port bound to 127.0.0.1 inside the pod")]
    public async Task PortForwardSpdy(CaseContext ctx)
    {
        var token = "cri-conformance-" + Pods.Token();
        var f = await Fixture.StartAsync(ctx, "portforward-spdy",
            ["sh", "-c", $"mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]);
        string page = "", problem = "";
        for (var attempt = 0; attempt < 30 && !page.Contains(token, StringComparison.Ordinal); attempt++)
        {
            if (attempt > 0)
            {
                await Task.Delay(200, ctx.CancellationToken);
            }

            var url = (await ctx.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = f.PodId, Port = { 8080 } }, ctx.Options)).Url;
            CheckUrl(url);
            var upgrade = await TestSpdyClient.ConnectAsync(new Uri(url), ["portforward.k8s.io"]);
            Check.Equal(101, upgrade.Status, $"HTTP status of the SPDY upgrade ({upgrade.Body.Trim()})");
            await using var client = upgrade.Client!;
            // kubectl's order: the error stream, then the data stream, both naming the port and the request id.
            var error = await client.OpenStreamAsync(("streamType", "error"), ("port", "8080"), ("requestID", "0"));
            var data = await client.OpenStreamAsync(("streamType", "data"), ("port", "8080"), ("requestID", "0"));
            await data.WriteAsync("GET / HTTP/1.0\r\n\r\n");
            page = await data.ReadToEndTextAsync(TimeSpan.FromSeconds(5));
            problem = await error.ReadToEndTextAsync(TimeSpan.FromSeconds(5));
        }

        Check.True(page.Contains("200", StringComparison.Ordinal) && page.Contains(token, StringComparison.Ordinal),
            $"no page with '{token}' through the forward (got '{page.ReplaceLineEndings("\\n")}'); last error stream: '{problem}'");
    }

    private static void CheckUrl(string url) =>
        Check.True(Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme is "http" or "https",
            $"the streaming URL '{url}' is not an absolute http(s) URL");

    private static async Task<SpdyExecSession> SpdyAsync(string url, bool stdin, bool tty)
    {
        try
        {
            return await SpdyExecSession.OpenAsync(new Uri(url), V4, stdin, stdout: true, stderr: !tty, resize: tty);
        }
        catch (InvalidOperationException e)
        {
            throw Check.Fail(e.Message);
        }
    }

    private static async Task<ChannelWebSocket> ConnectAsync(string url, CaseContext ctx)
    {
        ChannelWebSocket ws;
        try
        {
            ws = await ChannelWebSocket.ConnectAsync(url, [V4], ctx.CancellationToken);
        }
        catch (HandshakeRefusedException e)
        {
            throw Check.Fail(e.Message);
        }

        Check.Equal(V4, ws.Protocol, "negotiated subprotocol");
        return ws;
    }

    /// <summary>The exit code a v4 status (metav1.Status JSON) reports: 0 for Success, else the ExitCode cause of NonZeroExitCode.</summary>
    private static int ExitCode(string statusJson)
    {
        JsonElement status;
        try
        {
            status = JsonDocument.Parse(statusJson).RootElement;
        }
        catch (JsonException)
        {
            throw Check.Fail($"the error channel holds '{statusJson}', not a JSON status");
        }

        if (status.TryGetProperty("status", out var s) && s.GetString() == "Success")
        {
            return 0;
        }

        if (status.TryGetProperty("reason", out var reason) && reason.GetString() == "NonZeroExitCode"
            && status.TryGetProperty("details", out var details) && details.TryGetProperty("causes", out var causes))
        {
            foreach (var cause in causes.EnumerateArray())
            {
                if (cause.TryGetProperty("reason", out var r) && r.GetString() == "ExitCode"
                    && cause.TryGetProperty("message", out var m) && int.TryParse(m.GetString(), out var code))
                {
                    return code;
                }
            }
        }

        throw Check.Fail($"status '{statusJson}' is neither Success nor NonZeroExitCode with an ExitCode cause");
    }

    /// <summary>The busybox image pulled, a log directory, a pod (pod network) and one running container; all removed after the case.</summary>
    private sealed record Fixture(string PodId, string ContainerId, string LogPath)
    {
        public static async Task<Fixture> StartAsync(CaseContext ctx, string name, string[]? command = null, bool stdin = false)
        {
            var image = ctx.Registry.Image("busybox:latest");
            await ctx.PullAsync(image);
            var run = Pods.Token();
            var logs = ctx.TempDirectory();
            var podConfig = Pods.NewPodConfig(name, run, logs);
            var pod = await ctx.RunPodAsync(podConfig);
            var config = Pods.NewContainerConfig("main", image, run, command ?? ["sleep", "3600"]);
            config.LogPath = "main.log";
            config.Stdin = stdin;
            config.StdinOnce = stdin;
            var id = await ctx.CreateContainerAsync(pod, podConfig, config);
            await ctx.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, ctx.Options);
            await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);
            return new Fixture(pod, id, Path.Combine(logs, config.LogPath));
        }
    }
}
