using System.Net;
using System.Net.Sockets;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// Pod networking as kubelet relies on it, for a runtime with a CNI network (e.g. a bridge with host-local
/// IPAM and portmap): a pod's IP in PodSandboxStatus, that IP on an interface inside the pod, reachable
/// from the node and from another pod, host ports (portmap) on 127.0.0.1, and the pod's DNSConfig in
/// <c>/etc/resolv.conf</c>. The runner must run on the runtime's host (the node). It only ever contacts
/// 127.0.0.1 and pod IPs, and refuses a pod IP that is not a private address, so a misconfigured runtime
/// cannot make it talk to the outside. Containers run the busybox test image (<c>httpd</c>, <c>wget</c>);
/// the DNS servers it configures (192.0.2.0/24, TEST-NET-1) are only written, never queried.
/// </summary>
[CaseArea("Network")]
public sealed class NetworkCases
{
    private const int HttpPort = 8080;
    private static readonly TimeSpan StateWait = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan AnswerWait = TimeSpan.FromSeconds(15);

    [Case("A pod with a pod network reports an IPv4 pod IP in PodSandboxStatus")]
    public async Task PodIp(CaseContext ctx)
    {
        var id = await ctx.RunPodAsync(Pods.NewPodConfig("ip", Pods.Token()));
        var status = await ctx.PodStatusAsync(id);
        Check.Equal(PodSandboxState.SandboxReady, status.State, "state");
        PodIpv4(status);
    }

    [Case("The pod IP is on an interface inside the pod's network namespace")]
    public async Task PodIpInside(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "ip-inside");
        var ip = PodIpv4(await ctx.PodStatusAsync(f.PodId));
        var lines = await f.RunToExitAsync("addrs", "ip", "-o", "-4", "addr", "show");
        Check.True(lines.Any(l => l.Contains($" inet {ip}/", StringComparison.Ordinal)),
            $"'ip -o -4 addr show' in the pod does not list the pod IP {ip}: {string.Join(" | ", lines)}");
    }

    [Case("An httpd in a pod answers from the node at the pod IP")]
    public async Task HostToPod(CaseContext ctx)
    {
        var f = await Fixture.StartAsync(ctx, "http");
        var ip = PodIpv4(await ctx.PodStatusAsync(f.PodId));
        var token = await f.StartHttpdAsync();
        var body = await GetAsync(ctx, new Uri($"http://{ip}:{HttpPort}/"), token);
        Check.True(body.Contains(token, StringComparison.Ordinal), $"http://{ip}:{HttpPort}/ answered '{body}', want '{token}'");
    }

    // PodSandboxConfig.port_mappings (kubelet: containers[].ports[].hostPort), here bound to 127.0.0.1 only.
    [Case("A port mapping (host_ip 127.0.0.1) publishes the container port on the node")]
    public async Task HostPort(CaseContext ctx)
    {
        var hostPort = FreeLoopbackPort();
        var f = await Fixture.StartAsync(ctx, "hostport", c => c.PortMappings.Add(new PortMapping
        {
            Protocol = Protocol.Tcp,
            ContainerPort = HttpPort,
            HostPort = hostPort,
            HostIp = "127.0.0.1",
        }));
        var status = await ctx.PodStatusAsync(f.PodId);
        PodIpv4(status);
        var token = await f.StartHttpdAsync();
        var body = await GetAsync(ctx, new Uri($"http://127.0.0.1:{hostPort}/"), token);
        Check.True(body.Contains(token, StringComparison.Ordinal), $"http://127.0.0.1:{hostPort}/ answered '{body}', want '{token}'");
    }

    [Case("Two pods get different IPs and reach each other by IP")]
    public async Task PodToPod(CaseContext ctx)
    {
        var server = await Fixture.StartAsync(ctx, "server");
        var serverIp = PodIpv4(await ctx.PodStatusAsync(server.PodId));
        var token = await server.StartHttpdAsync();
        // The server answers the node first, so a failure below is about pod-to-pod traffic.
        await GetAsync(ctx, new Uri($"http://{serverIp}:{HttpPort}/"), token);

        var client = await server.StartPodAsync("client");
        var clientIp = PodIpv4(await ctx.PodStatusAsync(client.PodId));
        Check.True(!clientIp.Equals(serverIp), $"both pods have IP {serverIp}");
        // busybox wget: no -T (busybox-static's wget crashes with it); the case timeout bounds it.
        var lines = await client.RunToExitAsync("wget", "wget", "-q", "-O-", $"http://{serverIp}:{HttpPort}/");
        Check.True(lines.Any(l => l.Contains(token, StringComparison.Ordinal)),
            $"'wget http://{serverIp}:{HttpPort}/' in pod {clientIp} printed '{string.Join(" | ", lines)}', want '{token}'");
    }

    // kubelet puts the pod's DNS policy into PodSandboxConfig.dns_config; the runtime writes it as the
    // pod's resolv.conf, which every container of the pod sees.
    [Case("The pod's DNSConfig (servers, searches, options) is the containers' /etc/resolv.conf")]
    public async Task Dns(CaseContext ctx)
    {
        string[] servers = ["192.0.2.53", "192.0.2.54"];
        string[] searches = ["cri-conformance.svc.cluster.example", "svc.cluster.example", "cluster.example"];
        string[] options = ["ndots:5", "timeout:2", "attempts:3"];
        var f = await Fixture.StartAsync(ctx, "dns", c =>
        {
            c.DnsConfig = new DNSConfig();
            c.DnsConfig.Servers.AddRange(servers);
            c.DnsConfig.Searches.AddRange(searches);
            c.DnsConfig.Options.AddRange(options);
        });
        var lines = await f.RunToExitAsync("resolv", "cat", "/etc/resolv.conf");
        var show = string.Join(" | ", lines);
        List<string> gotServers = [], gotSearches = [], gotOptions = [];
        foreach (var line in lines)
        {
            var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2)
            {
                continue;
            }

            switch (words[0])
            {
                case "nameserver": gotServers.Add(words[1]); break;
                case "search": gotSearches = [.. words[1..]]; break; // the last search line wins (resolv.conf(5))
                case "options": gotOptions.AddRange(words[1..]); break;
            }
        }

        Check.True(gotServers.SequenceEqual(servers), $"nameservers [{string.Join(", ", gotServers)}], want [{string.Join(", ", servers)}]; resolv.conf: {show}");
        Check.True(gotSearches.SequenceEqual(searches), $"search [{string.Join(", ", gotSearches)}], want [{string.Join(", ", searches)}]; resolv.conf: {show}");
        Check.True(options.All(gotOptions.Contains), $"options [{string.Join(", ", gotOptions)}] lack some of [{string.Join(", ", options)}]; resolv.conf: {show}");
    }

    /// <summary>
    /// The pod's IPv4 address (network.ip, or one of additional_ips on a dual-stack pod with an IPv6
    /// primary). Fails unless it is a private address: the runner contacts nothing else.
    /// </summary>
    private static IPAddress PodIpv4(PodSandboxStatus status)
    {
        var network = Check.NotNull(status.Network, $"PodSandboxStatus({status.Id}).network");
        Check.NotEmpty(network.Ip, "network.ip");
        Check.True(IPAddress.TryParse(network.Ip, out _), $"network.ip '{network.Ip}' is not an IP address");
        var all = network.AdditionalIps.Select(a => a.Ip).Prepend(network.Ip).ToList();
        var v4 = all.Select(a => IPAddress.TryParse(a, out var ip) ? ip : null)
            .FirstOrDefault(ip => ip is { AddressFamily: AddressFamily.InterNetwork });
        if (v4 is null)
        {
            throw Check.Fail($"no IPv4 address among the pod IPs [{string.Join(", ", all)}]");
        }

        Check.True(IsPrivate(v4), $"pod IP {v4} is not a private (RFC 1918 / RFC 6598) address; the runner does not contact it");
        return v4;
    }

    private static bool IsPrivate(IPAddress ip)
    {
        var b = ip.GetAddressBytes();
        return b[0] == 10
            || (b[0] == 172 && (b[1] & 0xF0) == 16)
            || (b[0] == 192 && b[1] == 168)
            || (b[0] == 100 && (b[1] & 0xC0) == 64);
    }

    /// <summary>A TCP port in 30000–32767 (the NodePort range) that nothing listens on at 127.0.0.1 right now.</summary>
    private static int FreeLoopbackPort()
    {
        for (var i = 0; i < 50; i++)
        {
            var port = Random.Shared.Next(30000, 32768);
            try
            {
                using var l = new TcpListener(IPAddress.Loopback, port);
                l.Start();
                l.Stop();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw Check.Fail("found no free port in 30000-32767 on 127.0.0.1");
    }

    /// <summary>GETs <paramref name="uri"/> (no proxy) until it answers 200 with <paramref name="token"/> or <see cref="AnswerWait"/> passes.</summary>
    private static async Task<string> GetAsync(CaseContext ctx, Uri uri, string token)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            Timeout = TimeSpan.FromSeconds(3),
        };
        var until = DateTime.UtcNow + AnswerWait;
        string last;
        while (true)
        {
            try
            {
                using var r = await http.GetAsync(uri, ctx.CancellationToken);
                var body = await r.Content.ReadAsStringAsync(ctx.CancellationToken);
                if (r.IsSuccessStatusCode && body.Contains(token, StringComparison.Ordinal))
                {
                    return body;
                }

                last = $"HTTP {(int)r.StatusCode}: '{body.Trim()}'";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ctx.CancellationToken.IsCancellationRequested)
            {
                last = e.InnerException?.Message ?? e.Message;
            }

            if (DateTime.UtcNow > until)
            {
                throw Check.Fail($"GET {uri} did not answer with '{token}' within {AnswerWait.TotalSeconds:F0} s; last: {last}");
            }

            await Task.Delay(200, ctx.CancellationToken);
        }
    }

    /// <summary>The busybox image pulled, a log directory and a READY pod with a pod network; all undone after the case.</summary>
    private sealed class Fixture
    {
        private readonly CaseContext _ctx;

        private Fixture(CaseContext ctx, string run, string image, string logDirectory)
        {
            _ctx = ctx;
            Run = run;
            Image = image;
            LogDirectory = logDirectory;
        }

        public string Run { get; }
        public string Image { get; }
        public string LogDirectory { get; }
        public PodSandboxConfig PodConfig { get; private set; } = null!;
        public string PodId { get; private set; } = "";

        public static async Task<Fixture> StartAsync(CaseContext ctx, string name, Action<PodSandboxConfig>? configure = null)
        {
            var image = ctx.Registry.Image("busybox:latest");
            await ctx.PullAsync(image);
            var f = new Fixture(ctx, Pods.Token(), image, ctx.TempDirectory());
            await f.RunAsync(name, configure);
            return f;
        }

        /// <summary>Another pod of this run (same image, log directory and run label).</summary>
        public async Task<Fixture> StartPodAsync(string name)
        {
            var other = new Fixture(_ctx, Run, Image, LogDirectory);
            await other.RunAsync(name, null);
            return other;
        }

        private async Task RunAsync(string name, Action<PodSandboxConfig>? configure)
        {
            PodConfig = Pods.NewPodConfig(name, Run, LogDirectory);
            configure?.Invoke(PodConfig);
            PodId = await _ctx.RunPodAsync(PodConfig);
        }

        /// <summary>Starts <c>httpd -f -p 8080 -h /www</c> serving a fresh token as /index.html; returns the token once RUNNING.</summary>
        public async Task<string> StartHttpdAsync()
        {
            var token = "cri-conformance-" + Pods.Token();
            var config = Pods.NewContainerConfig("httpd", Image, Run, "sh", "-c",
                $"mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p {HttpPort} -h /www");
            config.LogPath = $"httpd-{PodId[..12]}.log";
            var id = await _ctx.CreateContainerAsync(PodId, PodConfig, config);
            await _ctx.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, _ctx.Options);
            await _ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, StateWait);
            return token;
        }

        /// <summary>Runs <paramref name="command"/> in a new container of the pod; requires exit 0 and returns its stdout lines.</summary>
        public async Task<IReadOnlyList<string>> RunToExitAsync(string name, params string[] command)
        {
            var config = Pods.NewContainerConfig(name, Image, Run, command);
            config.LogPath = $"{name}-{PodId[..12]}.log";
            var id = await _ctx.CreateContainerAsync(PodId, PodConfig, config);
            await _ctx.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, _ctx.Options);
            var s = await _ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
            var path = Path.Combine(LogDirectory, config.LogPath);
            if (s.ExitCode != 0)
            {
                var text = File.Exists(path) ? await File.ReadAllTextAsync(path, _ctx.CancellationToken) : "(no log)";
                throw Check.Fail($"'{string.Join(' ', command)}' exited {s.ExitCode}; log: {text.ReplaceLineEndings("\\n")}");
            }

            // The log may lag the exit a little; a command that printed nothing fails below with the log's content.
            var lines = await _ctx.WaitLogAsync(path, l => l.Any(x => x.Stream == "stdout" && x.Tag == "F"), TimeSpan.FromSeconds(5));
            return lines.Where(l => l.Stream == "stdout").Select(l => l.Content).ToList();
        }
    }
}
