using System.Net;
using CriSharp.Api.V1;

namespace CriSharp.Integration.Tests.Network;

/// <summary>Pods on a real bridge + host-local + portmap network: addresses, reachability, host ports.</summary>
public sealed class PodNetworkTests : IAsyncLifetime
{
    readonly NetworkTestBed _bed = new("csnet-a0", 1);

    public Task InitializeAsync() => _bed.StartAsync(withBusybox: true);
    public async Task DisposeAsync() => await _bed.DisposeAsync();

    static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };

    const string Httpd = "mkdir -p /www && echo \"hello from $(hostname)\" > /www/index.html && exec httpd -f -p 8080 -h /www";

    /// <summary>GETs until it answers (the server needs a moment to start).</summary>
    static async Task<string> GetAsync(string url)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                return await Http.GetStringAsync(url);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    [Fact]
    public async Task A_pod_gets_an_address_in_range_and_serves_on_it_and_on_a_loopback_host_port()
    {
        var hostPort = 31000 + Random.Shared.Next(1000);
        var config = _bed.PodConfig("web", ports: new PortMapping { Protocol = Protocol.Tcp, ContainerPort = 8080, HostPort = hostPort, HostIp = "127.0.0.1" });
        var pod = (await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var status = (await _bed.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod })).Status;
        var ip = status.Network.Ip;
        Assert.StartsWith(_bed.SubnetPrefix + ".", ip);
        Assert.True(IPAddress.TryParse(ip, out _));
        Assert.NotEqual(_bed.SubnetPrefix + ".1", ip); // .1 is the bridge (gateway)
        Assert.Single(_bed.BridgePorts());

        var ctr = await _bed.RunContainerAsync(pod, config, "httpd", "cat /etc/resolv.conf > /dev/stderr; " + Httpd);
        Assert.Equal("hello from web\n", await GetAsync($"http://{ip}:8080/"));
        Assert.Equal("hello from web\n", await GetAsync($"http://127.0.0.1:{hostPort}/"));

        var log = await File.ReadAllTextAsync(Path.Combine(config.LogDirectory, "httpd.log"));
        Assert.Contains("nameserver 10.0.0.10", log);
        Assert.Contains("search net-it.svc.cluster.local", log);

        await _bed.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = ctr, Timeout = 0 });
        await _bed.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        // Stopped: the address is released, the host port closed, the veth gone.
        Assert.Empty(_bed.IpamReservations());
        Assert.Empty(_bed.SubnetRules());
        await _bed.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        await _bed.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Two_pods_reach_each_other_by_address()
    {
        var serverConfig = _bed.PodConfig("server");
        var server = (await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = serverConfig })).PodSandboxId;
        await _bed.RunContainerAsync(server, serverConfig, "httpd", Httpd);
        var serverIp = await _bed.PodIpAsync(server);

        var clientConfig = _bed.PodConfig("client");
        var client = (await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = clientConfig })).PodSandboxId;
        var clientIp = await _bed.PodIpAsync(client);
        Assert.NotEqual(serverIp, clientIp);
        Assert.StartsWith(_bed.SubnetPrefix + ".", clientIp);
        await _bed.RunContainerAsync(client, clientConfig, "wget",
            // busybox-static 1.35 wget segfaults with -T
            $"for i in $(seq 50); do wget -q -O- http://{serverIp}:8080/ && exit 0; sleep 0.2; done; exit 1");

        var log = Path.Combine(clientConfig.LogDirectory, "wget.log");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!(File.Exists(log) && (await File.ReadAllTextAsync(log)).Contains("hello from server")) && DateTime.UtcNow < deadline)
            await Task.Delay(200);
        var text = await File.ReadAllTextAsync(log);
        Assert.True(text.Contains("stdout F hello from server"), text);

        await _bed.RemoveAllPodsAsync();
        await _bed.AssertNothingLeftAsync();
    }
}
