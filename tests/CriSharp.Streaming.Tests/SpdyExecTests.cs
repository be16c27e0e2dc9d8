using CriSharp.TestSupport.Streaming;

namespace CriSharp.Streaming.Tests;

/// <summary>Exec and attach over SPDY/3.1 with the test client, against the fake backend.</summary>
public sealed class SpdyExecTests : IAsyncLifetime
{
    StreamingHarness _h = null!;

    public async Task InitializeAsync() => _h = await StreamingHarness.StartAsync();
    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task Exec_echoes_stdin_with_stdout_and_stderr_kept_apart()
    {
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec("echo", stdin: true), "v4.channel.k8s.io", stdin: true);
        await s.Stdin!.WriteAsync("hello\n");
        Assert.Equal("hello\n", await s.Stdout!.ReadUntilAsync("hello\n"));
        await s.Stdin.WriteAsync("world\n");
        await s.Stdin.CloseAsync();

        Assert.Equal("world\n", await s.Stdout.ReadToEndTextAsync());
        Assert.Equal("err:hello\nerr:world\n", await s.Stderr!.ReadToEndTextAsync());
        var status = await s.StatusAsync();
        Assert.Equal("Success", status.GetProperty("status").GetString());
        Assert.Equal(0u, await s.Client.GoAway.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        var process = Assert.Single(_h.Backend.Processes);
        Assert.True(process.StdinClosed);
        Assert.Equal("exec c1 echo", Assert.Single(_h.Backend.Calls));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public async Task Exit_code_arrives_as_a_v4_status(int code)
    {
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec($"exit {code}"), "v4.channel.k8s.io");
        Assert.Equal("exiting\n", await s.Stdout!.ReadToEndTextAsync());
        var status = await s.StatusAsync();
        if (code == 0)
        {
            Assert.Equal("Success", status.GetProperty("status").GetString());
            return;
        }
        Assert.Equal("Failure", status.GetProperty("status").GetString());
        Assert.Equal("NonZeroExitCode", status.GetProperty("reason").GetString());
        var cause = status.GetProperty("details").GetProperty("causes")[0];
        Assert.Equal("ExitCode", cause.GetProperty("reason").GetString());
        Assert.Equal(code.ToString(), cause.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("channel.k8s.io")]
    [InlineData("v2.channel.k8s.io")]
    [InlineData("v3.channel.k8s.io")]
    public async Task Before_v4_a_failure_is_text_and_success_is_silence(string protocol)
    {
        await using (var ok = await SpdyExecSession.OpenAsync(_h.Exec("print done"), protocol))
        {
            Assert.Equal("done", await ok.Stdout!.ReadToEndTextAsync());
            Assert.Empty(await ok.Error.ReadToEndAsync());
        }
        await using var failed = await SpdyExecSession.OpenAsync(_h.Exec("exit 3"), protocol);
        await failed.Stdout!.ReadToEndAsync();
        Assert.Contains("non-zero exit code", await failed.Error.ReadToEndTextAsync());
    }

    [Fact]
    public async Task The_clients_first_supported_protocol_wins()
    {
        var upgrade = await TestSpdyClient.ConnectAsync(_h.Exec("print x"), ["v9.channel.k8s.io", "v3.channel.k8s.io", "v4.channel.k8s.io"]);
        await using var client = upgrade.Client!;
        Assert.Equal(101, upgrade.Status);
        Assert.Equal("v3.channel.k8s.io", upgrade.Headers["X-Stream-Protocol-Version"].Single());
        Assert.Equal("SPDY/3.1", upgrade.Headers["Upgrade"].Single());
    }

    [Fact]
    public async Task No_common_protocol_is_refused_with_the_accepted_list()
    {
        var upgrade = await TestSpdyClient.ConnectAsync(_h.Exec("print x"), ["v9.channel.k8s.io"]);
        Assert.Equal(403, upgrade.Status);
        Assert.Contains("v4.channel.k8s.io", upgrade.Headers["X-Accepted-Stream-Protocol-Versions"]);
        Assert.Empty(_h.Backend.Calls);
    }

    [Fact]
    public async Task A_plain_request_without_upgrade_headers_is_refused()
    {
        var upgrade = await TestSpdyClient.ConnectAsync(_h.Exec("print x"), ["v4.channel.k8s.io"], sendUpgradeHeaders: false);
        Assert.Equal(400, upgrade.Status);
        Assert.Empty(_h.Backend.Calls);
    }

    [Fact]
    public async Task Tty_resize_reaches_the_process()
    {
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec("size", tty: true), "v4.channel.k8s.io", stderr: false, resize: true);
        await s.Resize!.WriteAsync("{\"Width\":100,\"Height\":40}\n");
        Assert.Equal("40 100\n", await s.Stdout!.ReadToEndTextAsync());
        Assert.Equal("Success", (await s.StatusAsync()).GetProperty("status").GetString());
        await s.Resize.WriteAsync("{\"Width\":120,\"Height\":50}\n");
        Assert.Equal((100, 40), Assert.Single(_h.Backend.Processes).Resizes.First());
    }

    [Fact]
    public async Task Tty_merges_stderr_into_stdout()
    {
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec("echo", stdin: true, tty: true), "v4.channel.k8s.io", stdin: true, stderr: false, resize: true);
        await s.Stdin!.WriteAsync("hi\n");
        await s.Stdin.CloseAsync();
        Assert.Equal("hi\nerr:hi\n", await s.Stdout!.ReadToEndTextAsync());
        Assert.True(Assert.Single(_h.Backend.Processes).Tty);
    }

    [Fact]
    public async Task Large_output_reaches_a_client_that_does_no_flow_control()
    {
        // moby/spdystream (kubectl, crictl) never sends WINDOW_UPDATE: the server must not stall at 64 KiB.
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec("big 300000", stderr: false), "v4.channel.k8s.io", stderr: false);
        var output = await s.Stdout!.ReadToEndAsync();
        Assert.Equal(300000, output.Length);
        Assert.Equal((byte)'a', output[26 * 1000]);
    }

    [Fact]
    public async Task A_flow_controlling_client_is_sent_no_more_than_its_window()
    {
        // The client announces its 64 KiB window (SETTINGS) before opening any stream.
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec("big 200000", stderr: false), "v4.channel.k8s.io", stderr: false, flowControl: true);
        var stdout = s.Stdout!;
        for (int i = 0; i < 250 && stdout.BufferedBytes < 64 * 1024; i++) await Task.Delay(20);
        await Task.Delay(300); // time for anything beyond the window to (wrongly) arrive
        Assert.Equal(64 * 1024, stdout.BufferedBytes);
        // Reading sends WINDOW_UPDATE (stream and session), which lets the rest through.
        Assert.Equal(200000, (await stdout.ReadToEndAsync()).Length);
    }

    [Fact]
    public async Task Consumed_stdin_is_returned_to_the_client_with_window_updates()
    {
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec("echo", stdin: true), "v4.channel.k8s.io", stdin: true);
        var stdin = s.Stdin!;
        var line = new string('x', 999) + "\n";
        for (int i = 0; i < 100; i++) await stdin.WriteAsync(line);
        Assert.Equal(100_000, (await s.Stdout!.ReadExactlyAsync(100_000, CancellationToken.None)).Length);
        // Everything was consumed while the stream was still open: its window and the session's came back.
        for (int i = 0; i < 100 && !s.Client.WindowUpdates.Any(u => u.StreamId == stdin.Id); i++) await Task.Delay(20);
        Assert.InRange(s.Client.WindowUpdates.Where(u => u.StreamId == stdin.Id).Sum(u => u.Delta), 2 * SpdyWindowHalf, 100_000);
        Assert.Contains(s.Client.WindowUpdates, u => u.StreamId == 0);
        await stdin.CloseAsync();
        Assert.Equal("Success", (await s.StatusAsync()).GetProperty("status").GetString());
    }

    const int SpdyWindowHalf = 32 * 1024;

    [Fact]
    public async Task Pings_are_answered_and_unknown_streams_refused()
    {
        await using var s = await SpdyExecSession.OpenAsync(_h.Exec("echo", stdin: true), "v4.channel.k8s.io", stdin: true);
        await s.Client.SendPingAsync(7);
        var bogus = await s.Client.OpenStreamAsync(("streamType", "bogus"));
        Assert.Equal(3u, await bogus.ResetReceived.Task); // REFUSED_STREAM
        for (int i = 0; i < 50 && s.Client.PingReplies.IsEmpty; i++) await Task.Delay(20);
        Assert.Equal(7u, Assert.Single(s.Client.PingReplies));
        await s.Stdin!.CloseAsync();
        Assert.Equal("Success", (await s.StatusAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Attach_forwards_stdin_and_reports_success()
    {
        var url = _h.Url(new AttachSessionRequest("c1", Tty: false, Stdin: true, Stdout: true, Stderr: true));
        await using var s = await SpdyExecSession.OpenAsync(url, "v4.channel.k8s.io", stdin: true);
        await s.Stdin!.WriteAsync("attached\n");
        Assert.Contains("attached\n", await s.Stdout!.ReadUntilAsync("attached\n"));
        await s.Stdin.CloseAsync();
        Assert.Equal("Success", (await s.StatusAsync()).GetProperty("status").GetString());
        Assert.Equal("attach c1", Assert.Single(_h.Backend.Calls));
        Assert.True(Assert.Single(_h.Backend.Processes).StdinClosed);
    }

    [Fact]
    public async Task A_client_that_hangs_up_ends_the_process()
    {
        var s = await SpdyExecSession.OpenAsync(_h.Exec("wait", stdin: true), "v4.channel.k8s.io", stdin: true);
        for (int i = 0; i < 100 && _h.Backend.Processes.IsEmpty; i++) await Task.Delay(20);
        await s.DisposeAsync();
        var process = Assert.Single(_h.Backend.Processes);
        for (int i = 0; i < 100 && !process.Disposed; i++) await Task.Delay(20);
        Assert.True(process.Disposed);
    }

    [Fact]
    public async Task Concurrent_sessions_stay_separate()
    {
        var sessions = Enumerable.Range(0, 12).Select(async i =>
        {
            await using var s = await SpdyExecSession.OpenAsync(_h.Exec("echo", stdin: true), "v4.channel.k8s.io", stdin: true);
            for (int k = 0; k < 5; k++) await s.Stdin!.WriteAsync($"session {i} line {k}\n");
            await s.Stdin!.CloseAsync();
            var expected = string.Concat(Enumerable.Range(0, 5).Select(k => $"session {i} line {k}\n"));
            Assert.Equal(expected, await s.Stdout!.ReadToEndTextAsync());
            Assert.Equal("Success", (await s.StatusAsync()).GetProperty("status").GetString());
        });
        await Task.WhenAll(sessions);
        Assert.Equal(12, _h.Backend.Processes.Count);
    }

    [Fact]
    public async Task A_backend_that_cannot_start_the_process_reports_an_internal_error()
    {
        await using var h = await StreamingHarness.StartAsync(backend: new RefusingBackend());
        await using var s = await SpdyExecSession.OpenAsync(h.Exec("print x"), "v4.channel.k8s.io");
        var status = await s.StatusAsync();
        Assert.Equal("Failure", status.GetProperty("status").GetString());
        Assert.Equal("InternalError", status.GetProperty("reason").GetString());
        Assert.Contains("container is gone", status.GetProperty("message").GetString());
        Assert.Empty(await s.Stdout!.ReadToEndAsync());
    }

    /// <summary>A backend whose container vanished between the CRI call and the client's connection.</summary>
    sealed class RefusingBackend : IStreamingBackend
    {
        public Task<IStreamingProcess> ExecAsync(string containerId, IReadOnlyList<string> command, bool tty, bool stdin, CancellationToken ct) =>
            throw new InvalidOperationException("container is gone");
        public Task<IStreamingProcess> AttachAsync(string containerId, bool tty, bool stdin, CancellationToken ct) =>
            throw new InvalidOperationException("container is gone");
        public Task<Stream> DialPodPortAsync(string podSandboxId, int port, CancellationToken ct) =>
            throw new InvalidOperationException("pod is gone");
    }
}
