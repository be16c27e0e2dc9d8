using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Networking": the pod's DNSConfig and hostname as the container sees them, and critest's nginx
/// reached at the pod IP (a port mapping with only the container port) and at 127.0.0.1:12000 (host port 12000).
/// The runner must run on the node; it contacts only 127.0.0.1 and private pod IPs, and the DNS server it writes
/// (critest's 10.10.10.10) is never queried.
/// </summary>
[CaseArea("critest Networking")]
public sealed class CritestNetworkingCases
{
    [Case("runtime should support networking :: runtime should support DNS config [Conformance]")]
    public async Task DnsConfig(CaseContext ctx)
    {
        var config = await ctx.PodConfigAsync("create-PodSandbox-with-DNS-config");
        config.DnsConfig = new DNSConfig { Servers = { "10.10.10.10" }, Searches = { "google.com" }, Options = { "ndots:8" } };
        var podId = await ctx.RunPodForImageAsync(config, ctx.Image(CritestImages.Busybox));
        var containerId = await ctx.StartDefaultContainerAsync(podId, config, "container-for-DNS-config-test-");
        var (stdout, stderr) = await ctx.ExecSyncAsync(containerId, "cat", "/etc/resolv.conf");
        foreach (var line in new[] { "nameserver 10.10.10.10", "search google.com", "options ndots:8" })
        {
            Check.True(stdout.Contains(line, StringComparison.Ordinal), $"/etc/resolv.conf lacks '{line}': '{stdout.ReplaceLineEndings("\\n")}'");
        }

        Check.Equal("", stderr, "stderr of cat /etc/resolv.conf");
    }

    [Case("runtime should support networking :: runtime should support set hostname [Conformance]")]
    public async Task Hostname(CaseContext ctx)
    {
        const string hostname = "test-hostname";
        var config = await ctx.PodConfigAsync("create-PodSandbox-with-hostname");
        config.Hostname = hostname;
        var podId = await ctx.RunPodForImageAsync(config, ctx.Image(CritestImages.Busybox));
        var containerId = await ctx.StartDefaultContainerAsync(podId, config, "container-for-hostname-test-");
        var (stdout, stderr) = await ctx.ExecSyncAsync(containerId, "hostname");
        Check.True(string.Equals(stdout.Trim(), hostname, StringComparison.OrdinalIgnoreCase), $"hostname printed '{stdout.Trim()}', want '{hostname}'");
        Check.Equal("", stderr, "stderr of hostname");
    }

    [Case("runtime should support networking :: runtime should support port mapping with only container port [Conformance]")]
    public async Task ContainerPortOnly(CaseContext ctx)
    {
        var (podId, config) = await ctx.PodWithPortMappingAsync(ctx.Image(CritestImages.Nginx), new PortMapping { ContainerPort = CritestStreamingSupport.WebServerPort });
        await ctx.StartWebServerAsync(podId, config, ctx.Image(CritestImages.Nginx), "container-for-container-port");
        await ctx.CheckPodMainPageAsync(podId, CritestStreamingSupport.WebServerPort);
    }

    [Case("runtime should support networking :: runtime should support port mapping with host port and container port [Conformance]")]
    public async Task HostAndContainerPort(CaseContext ctx)
    {
        var (podId, config) = await ctx.PodWithPortMappingAsync(ctx.Image(CritestImages.Nginx), new PortMapping
        {
            ContainerPort = CritestStreamingSupport.WebServerPort,
            HostPort = CritestStreamingSupport.HostPortForPortMapping,
        });
        await ctx.StartWebServerAsync(podId, config, ctx.Image(CritestImages.Nginx), "container-for-host-port");
        await ctx.CheckMainPageAsync(CritestStreamingSupport.HostPortForPortMapping);
    }
}
