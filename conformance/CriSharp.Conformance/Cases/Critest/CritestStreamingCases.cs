using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Streaming": the Exec, Attach and PortForward URLs driven the way critest drives them by default,
/// with client-go over SPDY/3.1: exec of <c>echo -n hello</c> without and with a TTY and stdin, attach to a
/// <c>/bin/sh</c> reading stdin, and port-forward from a local port (12001, 12002) to critest's nginx on port 80 in
/// a pod network and to the host-network server on 12003. The runner must reach the URLs (it runs on the node).
/// </summary>
[CaseArea("critest Streaming")]
public sealed class CritestStreamingCases
{
    private static readonly string[] EchoHello = ["echo", "-n", "hello"];

    [Case("runtime should support streaming interfaces :: runtime should support exec with tty=false and stdin=false [Conformance]")]
    public async Task Exec(CaseContext ctx)
    {
        var containerId = await DefaultContainerAsync(ctx);
        var url = await ExecUrlAsync(ctx, new ExecRequest { ContainerId = containerId, Cmd = { EchoHello }, Stdout = true, Stderr = true });
        await using var session = await CritestStreamingSupport.OpenSpdyAsync(url, stdin: false, stdout: true, stderr: true, tty: false);
        var stdout = new CritestStreamingSupport.StreamBuffer(session.Stdout!);
        var stderr = new CritestStreamingSupport.StreamBuffer(session.Stderr!);
        await CritestStreamingSupport.CheckStreamSucceededAsync(session, "exec echo -n hello");
        await Task.WhenAll(stdout.Done, stderr.Done).WaitAsync(TimeSpan.FromSeconds(10), ctx.CancellationToken);
        Check.Equal("hello", stdout.Text, "stdout of exec");
        Check.Equal("", stderr.Text, "stderr of exec");
    }

    [Case("runtime should support streaming interfaces :: runtime should support exec with tty=true and stdin=true [Conformance]")]
    public async Task ExecTty(CaseContext ctx)
    {
        var containerId = await DefaultContainerAsync(ctx);
        var url = await ExecUrlAsync(ctx, new ExecRequest { ContainerId = containerId, Cmd = { EchoHello }, Stdout = true, Tty = true, Stdin = true });
        // critest's stdin stays open (nothing written) until the exec is over.
        await using var session = await CritestStreamingSupport.OpenSpdyAsync(url, stdin: true, stdout: true, stderr: false, tty: true);
        var stdout = new CritestStreamingSupport.StreamBuffer(session.Stdout!);
        await CritestStreamingSupport.CheckStreamSucceededAsync(session, "exec echo -n hello with a TTY");
        await stdout.Done.WaitAsync(TimeSpan.FromSeconds(10), ctx.CancellationToken);
        Check.True(stdout.Text.Contains("hello", StringComparison.Ordinal), $"stdout of exec with a TTY is '{stdout.Text}', want it to contain 'hello'");
    }

    [Case("runtime should support streaming interfaces :: runtime should support attach [Conformance]")]
    public async Task Attach(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForImageAsync(ctx.Image(CritestImages.Busybox));
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = "container-for-attach-test" + Critest.Uuid(), Attempt = Critest.Attempt },
            Image = new ImageSpec { Image = ctx.Image(CritestImages.Busybox) },
            Command = { "/bin/sh" },
            Linux = new LinuxContainerConfig(),
            Stdin = true,
            StdinOnce = true,
            Tty = false,
        };
        var containerId = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await ctx.StartAsync(containerId);
        var url = (await ctx.Runtime.AttachAsync(new AttachRequest { ContainerId = containerId, Stdin = true, Stdout = true, Stderr = true, Tty = false }, ctx.Options)).Url;
        await using var session = await CritestStreamingSupport.OpenSpdyAsync(url, stdin: true, stdout: true, stderr: true, tty: false);
        var stdout = new CritestStreamingSupport.StreamBuffer(session.Stdout!);
        var stderr = new CritestStreamingSupport.StreamBuffer(session.Stderr!);

        // Without input the shell prints nothing more: the output stops growing.
        var header = stdout.Text;
        await Task.Delay(1000, ctx.CancellationToken);
        await ctx.EventuallyAsync("the container's output stops when there is no input", TimeSpan.FromSeconds(10), async () =>
        {
            var before = header;
            header = stdout.Text;
            if (header.Length == before.Length) return true;
            await Task.Delay(1000, ctx.CancellationToken);
            return false;
        });

        await session.Stdin!.WriteAsync(string.Join(' ', EchoHello) + "\n");
        string After() => stdout.Text[header.Length..];
        await ctx.EventuallyAsync($"attach stdout after the header is 'hello' (it is '{After()}')", TimeSpan.FromSeconds(15), () => Task.FromResult(After() == "hello"));
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(1000, ctx.CancellationToken);
            Check.Equal("hello", After(), "attach stdout after the header, a while later");
        }

        // critest closes its stdin; the shell exits (stdin_once) and the session ends.
        await session.Stdin.CloseAsync();
        await CritestStreamingSupport.CheckStreamSucceededAsync(session, "attach");
        await Task.WhenAll(stdout.Done, stderr.Done).WaitAsync(TimeSpan.FromSeconds(10), ctx.CancellationToken);
        Check.Equal("", stderr.Text, "stderr of attach");
    }

    [Case("runtime should support streaming interfaces :: runtime should support portforward [Conformance]")]
    public async Task PortForward(CaseContext ctx)
    {
        var (podId, config) = await ctx.PodWithPortMappingAsync(ctx.Image(CritestImages.Nginx), new PortMapping { ContainerPort = CritestStreamingSupport.WebServerPort });
        await ctx.StartWebServerAsync(podId, config, ctx.Image(CritestImages.Nginx), "container-for-portforward-test");
        await ctx.CheckPodMainPageAsync(podId, CritestStreamingSupport.WebServerPort);
        await CheckPortForwardAsync(ctx, podId, CritestStreamingSupport.HostPortForPortForward, CritestStreamingSupport.WebServerPort);
    }

    [Case("runtime should support streaming interfaces :: runtime should support portforward in host network")]
    public async Task PortForwardHostNetwork(CaseContext ctx)
    {
        var (podId, config) = await ctx.PodWithPortMappingAsync(ctx.Image(CritestImages.HostNetNginx), new PortMapping { ContainerPort = CritestStreamingSupport.HostNetServerPort }, hostNetwork: true);
        await ctx.StartWebServerAsync(podId, config, ctx.Image(CritestImages.HostNetNginx), "container-for-host-net-portforward-test");
        await ctx.CheckMainPageAsync(CritestStreamingSupport.HostNetServerPort);
        await CheckPortForwardAsync(ctx, podId, CritestStreamingSupport.HostPortForHostNetPortForward, CritestStreamingSupport.HostNetServerPort);
    }

    private static async Task<string> DefaultContainerAsync(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForImageAsync(ctx.Image(CritestImages.Busybox));
        return await ctx.StartDefaultContainerAsync(podId, podConfig, "container-for-exec-test");
    }

    private static async Task<string> ExecUrlAsync(CaseContext ctx, ExecRequest request) => (await ctx.Runtime.ExecAsync(request, ctx.Options)).Url;

    /// <summary>critest's checkPortForward: PortForward (no ports named), forward 127.0.0.1:LOCAL to the pod's port, GET the page through it.</summary>
    private static async Task CheckPortForwardAsync(CaseContext ctx, string podId, int localPort, int podPort)
    {
        var url = (await ctx.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = podId }, ctx.Options)).Url;
        await using var forward = await CritestPortForward.StartAsync(url, localPort, podPort);
        try
        {
            await ctx.CheckMainPageAsync(localPort);
        }
        catch (CaseFailedException e)
        {
            throw Check.Fail($"through the port forward {url}: {e.Message}; error streams: [{string.Join(" | ", forward.Errors)}]");
        }
    }
}
