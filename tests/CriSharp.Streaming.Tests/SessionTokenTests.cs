using System.Net;
using CriSharp.TestSupport.Streaming;

namespace CriSharp.Streaming.Tests;

/// <summary>One-time URLs: random, single use, one minute; anything else is 404 and starts nothing.</summary>
public sealed class SessionTokenTests
{
    [Fact]
    public void Tokens_are_random_url_safe_and_at_least_128_bits()
    {
        var tokens = new SessionTokens();
        var issued = Enumerable.Range(0, 200).Select(_ => tokens.Issue(new AttachSessionRequest("c", false, false, true, false))).ToList();
        Assert.Equal(200, issued.Distinct().Count());
        Assert.All(issued, t =>
        {
            Assert.Matches("^[A-Za-z0-9_-]+$", t);
            Assert.True(t.Length * 6 >= 128);
        });
    }

    [Fact]
    public void A_token_redeems_once_and_only_within_a_minute()
    {
        var time = new ManualTime();
        var tokens = new SessionTokens(time);
        var request = new ExecSessionRequest("c", ["ls"], false, false, true, true);
        var once = tokens.Issue(request);
        Assert.Same(request, tokens.Redeem(once));
        Assert.Null(tokens.Redeem(once));

        var late = tokens.Issue(request);
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(tokens.Redeem(late));
        Assert.Null(tokens.Redeem("not-a-token"));
    }

    [Fact]
    public void Too_many_outstanding_tokens_are_refused()
    {
        var tokens = new SessionTokens(new ManualTime());
        for (int i = 0; i < SessionTokens.MaxPending; i++) tokens.Issue(new AttachSessionRequest("c", false, false, true, false));
        Assert.Throws<StreamingBusyException>(() => tokens.Issue(new AttachSessionRequest("c", false, false, true, false)));
    }

    [Fact]
    public async Task Invalid_reused_expired_and_misrouted_tokens_get_404_and_start_nothing()
    {
        var time = new ManualTime();
        await using var h = await StreamingHarness.StartAsync(time: time);
        var baseUri = h.Server.BaseUri;

        Assert.Equal(404, (await TestSpdyClient.ConnectAsync(new Uri(baseUri, "exec/nonsense"), ["v4.channel.k8s.io"])).Status);
        var (ws, wsStatus) = await TestChannelWebSocketClient.ConnectAsync(new Uri(baseUri, "exec/nonsense"), "v4.channel.k8s.io");
        Assert.Null(ws);
        Assert.Equal(HttpStatusCode.NotFound, wsStatus);

        var url = h.Exec("print once");
        var first = await TestSpdyClient.ConnectAsync(url, ["v4.channel.k8s.io"]);
        await first.Client!.DisposeAsync();
        Assert.Equal(404, (await TestSpdyClient.ConnectAsync(url, ["v4.channel.k8s.io"])).Status);
        int callsAfterFirst = h.Backend.Calls.Count;

        var expired = h.Exec("print late");
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(404, (await TestSpdyClient.ConnectAsync(expired, ["v4.channel.k8s.io"])).Status);

        var execToken = h.Exec("print x").Segments.Last();
        Assert.Equal(404, (await TestSpdyClient.ConnectAsync(new Uri(baseUri, $"attach/{execToken}"), ["v4.channel.k8s.io"])).Status);
        Assert.Equal(404, (await TestSpdyClient.ConnectAsync(new Uri(baseUri, "exec"), ["v4.channel.k8s.io"])).Status);

        Assert.Equal(callsAfterFirst, h.Backend.Calls.Count);
        Assert.DoesNotContain(h.Backend.Calls, c => c.Contains("late") || c.Contains("print x"));
    }

    [Fact]
    public async Task Urls_name_the_configured_address_and_the_bound_port()
    {
        await using var h = await StreamingHarness.StartAsync();
        Assert.NotEqual(0, h.Server.Port);
        var url = h.Url(new PortForwardSessionRequest("pod1", [80]));
        Assert.Matches($"^http://127\\.0\\.0\\.1:{h.Server.Port}/portforward/[A-Za-z0-9_-]+$", url.ToString());
    }

    [Fact]
    public async Task Idle_sessions_are_closed()
    {
        await using var h = await StreamingHarness.StartAsync(idleTimeoutSeconds: 1);
        await using var s = await SpdyExecSession.OpenAsync(h.Exec("wait", stdin: true), "v4.channel.k8s.io", stdin: true);
        await s.Client.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var process = Assert.Single(h.Backend.Processes);
        for (int i = 0; i < 100 && !process.Disposed; i++) await Task.Delay(20);
        Assert.True(process.Disposed);
    }
}
