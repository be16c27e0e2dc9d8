using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using CriSharp.TestSupport.Streaming;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// What critest's Networking, PodSandbox and Streaming specs share: ExecSync with critest's 30 s timeout, pods with
/// port mappings, web server containers (the image's own command), the "main page" check (HTTP GET until it
/// answers, then 200), and the client side of the streaming URLs the way client-go drives them over SPDY
/// (remotecommand <c>v4.channel.k8s.io</c>, port-forward <c>portforward.k8s.io</c> behind a local listening port,
/// as <c>kubectl port-forward</c> does). The runner only contacts 127.0.0.1 and private pod IPs.
/// </summary>
internal static class CritestStreamingSupport
{
    public const string ExecProtocol = "v4.channel.k8s.io";
    public const string PortForwardProtocol = "portforward.k8s.io";

    /// <summary>critest's defaultExecSyncTimeout.</summary>
    public const long ExecSyncTimeoutSeconds = 30;

    /// <summary>critest's nginx port and host ports (port mapping, port-forward, host-network port-forward, the host-network server).</summary>
    public const int WebServerPort = 80, HostPortForPortMapping = 12000, HostPortForPortForward = 12001, HostPortForHostNetPortForward = 12002, HostNetServerPort = 12003;

    private static readonly TimeSpan PageWait = TimeSpan.FromSeconds(20);

    /// <summary>ExecSync with a 30 s timeout; a non-zero exit fails the case (as critest's CRI client turns it into an error).</summary>
    public static async Task<(string Stdout, string Stderr)> ExecSyncAsync(this CaseContext ctx, string containerId, params string[] command)
    {
        var r = await ctx.ExecAsync(containerId, ExecSyncTimeoutSeconds, command);
        if (r.ExitCode != 0)
        {
            throw Check.Fail($"ExecSync({string.Join(' ', command)}) exited {r.ExitCode}: stdout '{r.Stdout.ToStringUtf8()}' stderr '{r.Stderr.ToStringUtf8()}'");
        }

        return (r.Stdout.ToStringUtf8(), r.Stderr.ToStringUtf8());
    }

    /// <summary>
    /// Runs the pod once the runtime has <paramref name="image"/> (pulled with the pod's config when missing, as
    /// critest's CreateContainer does). Pulled before the pod runs, so that after the case the pod and its containers
    /// are removed before the image.
    /// </summary>
    public static async Task<string> RunPodForImageAsync(this CaseContext ctx, PodSandboxConfig config, string image)
    {
        await ctx.EnsureImageAsync(image, config);
        return await ctx.RunCritestPodAsync(config);
    }

    /// <summary>critest's CreatePodSandboxForContainer, for containers of <paramref name="image"/> (see <see cref="RunPodForImageAsync"/>).</summary>
    public static async Task<(string PodId, PodSandboxConfig Config)> PodForImageAsync(this CaseContext ctx, string image)
    {
        var config = await ctx.PodConfigAsync("create-PodSandbox-for-container-");
        return (await ctx.RunPodForImageAsync(config, image), config);
    }

    /// <summary>critest's createPodSandboxWithPortMapping: pod <c>create-PodSandbox-with-port-mapping</c>, optionally in the node's network, for a container of <paramref name="image"/>.</summary>
    public static async Task<(string PodId, PodSandboxConfig Config)> PodWithPortMappingAsync(this CaseContext ctx, string image, PortMapping mapping, bool hostNetwork = false)
    {
        var config = await ctx.PodConfigAsync("create-PodSandbox-with-port-mapping");
        config.PortMappings.Add(mapping);
        if (hostNetwork)
        {
            config.Linux.SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node } };
        }

        return (await ctx.RunPodForImageAsync(config, image), config);
    }

    /// <summary>A web server container (critest's createWebServerContainer): the image's own command, an empty Linux config; created and started.</summary>
    public static async Task<string> StartWebServerAsync(this CaseContext ctx, string podId, PodSandboxConfig podConfig, string image, string namePrefix)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = namePrefix + Critest.Uuid(), Attempt = Critest.Attempt },
            Image = new ImageSpec { Image = image },
            Linux = new LinuxContainerConfig(),
        };
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await ctx.StartAsync(id);
        return id;
    }

    /// <summary>critest's default container (busybox <c>top</c>), created and started.</summary>
    public static async Task<string> StartDefaultContainerAsync(this CaseContext ctx, string podId, PodSandboxConfig podConfig, string namePrefix)
    {
        var id = await ctx.CreateDefaultContainerAsync(podId, podConfig, namePrefix);
        await ctx.StartAsync(id);
        return id;
    }

    /// <summary>critest's checkMainPage for <c>http://127.0.0.1:HOSTPORT/</c>.</summary>
    public static Task CheckMainPageAsync(this CaseContext ctx, int hostPort) => GetPageAsync(ctx, new Uri($"http://127.0.0.1:{hostPort}/"));

    /// <summary>critest's checkMainPage for <c>http://POD_IP:PORT/</c>, the IP from PodSandboxStatus.</summary>
    public static async Task CheckPodMainPageAsync(this CaseContext ctx, string podId, int containerPort)
    {
        var network = Check.NotNull((await ctx.PodStatusAsync(podId)).Network, $"PodSandboxStatus({podId}).network");
        Check.NotEmpty(network.Ip, $"PodSandboxStatus({podId}).network.ip");
        Check.True(IPAddress.TryParse(network.Ip, out var ip) && IsPrivateIpv4(ip),
            $"pod IP '{network.Ip}' is not a private (RFC 1918 / RFC 6598) IPv4 address; the runner does not contact it");
        await GetPageAsync(ctx, new Uri($"http://{ip}:{containerPort}/"));
    }

    private static bool IsPrivateIpv4(IPAddress ip)
    {
        if (ip.AddressFamily != AddressFamily.InterNetwork) return false;
        var b = ip.GetAddressBytes();
        return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) || (b[0] == 100 && (b[1] & 0xC0) == 64);
    }

    /// <summary>GETs <paramref name="uri"/> (no proxy) until some answer comes, for up to 20 s; that answer must be 200.</summary>
    private static async Task GetPageAsync(CaseContext ctx, Uri uri)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) }) { Timeout = TimeSpan.FromSeconds(5) };
        var until = DateTime.UtcNow + PageWait;
        while (true)
        {
            string last;
            try
            {
                using var r = await http.GetAsync(uri, ctx.CancellationToken);
                Check.Equal(200, (int)r.StatusCode, $"HTTP status of GET {uri}");
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ctx.CancellationToken.IsCancellationRequested)
            {
                last = e.InnerException?.Message ?? e.Message;
            }

            if (DateTime.UtcNow > until) throw Check.Fail($"GET {uri} got no answer within {PageWait.TotalSeconds:F0} s; last: {last}");
            await Task.Delay(1000, ctx.CancellationToken);
        }
    }

    /// <summary>Opens an exec/attach URL over SPDY/3.1 with <see cref="ExecProtocol"/>, streams in client-go's order.</summary>
    public static async Task<SpdyExecSession> OpenSpdyAsync(string url, bool stdin, bool stdout, bool stderr, bool tty)
    {
        try
        {
            return await SpdyExecSession.OpenAsync(new Uri(url), ExecProtocol, stdin, stdout, stderr, resize: tty);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or SocketException)
        {
            throw Check.Fail($"SPDY session on {url}: {e.Message}");
        }
    }

    /// <summary>
    /// The error stream's end state as client-go's StreamWithContext judges it: empty, or a v4 status with
    /// <c>status: Success</c>; anything else is the error critest would get.
    /// </summary>
    public static async Task CheckStreamSucceededAsync(SpdyExecSession session, string what)
    {
        var text = await session.Error.ReadToEndTextAsync(TimeSpan.FromSeconds(10));
        if (text.Length == 0) return;
        try
        {
            var status = JsonDocument.Parse(text).RootElement;
            if (status.TryGetProperty("status", out var s) && s.GetString() == "Success") return;
        }
        catch (JsonException)
        {
        }

        throw Check.Fail($"{what}: the error stream reports '{text}'");
    }

    /// <summary>Reads a stream into a buffer in the background (critest's safeBuffer behind the stream).</summary>
    public sealed class StreamBuffer
    {
        private readonly StringBuilder _text = new();

        public StreamBuffer(TestSpdyClient.ClientStream stream) => Done = Task.Run(async () =>
        {
            while (await stream.ReadAsync(CancellationToken.None) is { } chunk)
            {
                lock (_text) _text.Append(Encoding.UTF8.GetString(chunk));
            }
        });

        /// <summary>Completes when the server ends the stream.</summary>
        public Task Done { get; }

        public string Text
        {
            get
            {
                lock (_text) return _text.ToString();
            }
        }
    }
}

/// <summary>
/// client-go's port forwarder over SPDY (what critest's checkPortForward runs): one SPDY connection to the
/// PortForward URL, a listener on 127.0.0.1:LOCAL, and per accepted connection an error stream (closed for writing at
/// once) and a data stream for the remote port with the next request id, copied both ways.
/// </summary>
internal sealed class CritestPortForward : IAsyncDisposable
{
    private readonly TestSpdyClient _client;
    private readonly TcpListener _listener;
    private readonly string _remotePort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Task _accepting;
    private int _requestId = -1;

    private CritestPortForward(TestSpdyClient client, TcpListener listener, int remotePort)
    {
        _client = client;
        _listener = listener;
        _remotePort = remotePort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>What the error streams carried (the runtime's reasons for failed forwards).</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    public static async Task<CritestPortForward> StartAsync(string url, int localPort, int remotePort)
    {
        Check.True(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0,
            $"the port-forward URL '{url}' is not an absolute http(s) URL with a host");
        var upgrade = await TestSpdyClient.ConnectAsync(uri!, [CritestStreamingSupport.PortForwardProtocol]);
        if (upgrade.Status != 101) throw Check.Fail($"the SPDY upgrade of {url} was answered {upgrade.Status}: {upgrade.Body.Trim()}");
        var negotiated = upgrade.Headers.TryGetValue("X-Stream-Protocol-Version", out var v) ? string.Join(",", v) : "";
        if (negotiated != CritestStreamingSupport.PortForwardProtocol)
        {
            await upgrade.Client!.DisposeAsync();
            throw Check.Fail($"the port-forward server negotiated '{negotiated}', not {CritestStreamingSupport.PortForwardProtocol}");
        }

        var listener = new TcpListener(IPAddress.Loopback, localPort);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            await upgrade.Client!.DisposeAsync();
            throw Check.Fail($"cannot listen on 127.0.0.1:{localPort} for the port forward (critest needs it free): {e.Message}");
        }

        return new CritestPortForward(upgrade.Client!, listener, remotePort);
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            TcpClient local;
            try
            {
                local = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _connections.Add(Task.Run(() => ForwardAsync(local)));
        }
    }

    private async Task ForwardAsync(TcpClient local)
    {
        using (local)
        {
            try
            {
                var requestId = Interlocked.Increment(ref _requestId).ToString(System.Globalization.CultureInfo.InvariantCulture);
                var error = await _client.OpenStreamAsync(("streamType", "error"), ("port", _remotePort), ("requestID", requestId));
                await error.CloseAsync();
                var data = await _client.OpenStreamAsync(("streamType", "data"), ("port", _remotePort), ("requestID", requestId));
                var net = local.GetStream();
                var up = Task.Run(async () =>
                {
                    var buffer = new byte[16384];
                    int n;
                    while ((n = await net.ReadAsync(buffer, _stop.Token)) > 0) await data.WriteAsync(buffer[..n]);
                    await data.CloseAsync();
                });
                while (await data.ReadAsync(_stop.Token) is { } chunk) await net.WriteAsync(chunk, _stop.Token);
                var problem = await error.ReadToEndTextAsync(TimeSpan.FromSeconds(2));
                if (problem.Length > 0) Errors.Enqueue(problem);
                local.Client.Shutdown(SocketShutdown.Both);
                await Task.WhenAny(up, Task.Delay(1000));
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or TimeoutException or ObjectDisposedException)
            {
                Errors.Enqueue(e.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        await _client.DisposeAsync();
        await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }
}
