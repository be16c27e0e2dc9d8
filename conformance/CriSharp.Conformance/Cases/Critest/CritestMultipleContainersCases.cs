using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using static CriSharp.Conformance.Cases.CritestContainerSupport;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Multiple Containers [Conformance]": one pod (log directory, container port 80) running
/// critest's httpd and a busybox that prints <c>hello World</c> and sleeps; the node reaches httpd on the
/// pod IP, both containers' logs hold their output, and ExecSync works in each.
/// </summary>
[CaseArea("critest Multiple Containers [Conformance]")]
public sealed class CritestMultipleContainersCases
{
    private const string Context = "when running multiple containers in a pod :: ";
    private const int HttpdPort = 80;

    [Case(Context + "should support network")]
    public async Task Network(CaseContext ctx)
    {
        var pod = await StartPodAsync(ctx);
        await CheckMainPageAsync(ctx, pod.PodId, HttpdPort);
    }

    [Case(Context + "should support container log")]
    public async Task ContainerLog(CaseContext ctx)
    {
        var pod = await StartPodAsync(ctx);
        await WaitLogContainsAsync(ctx, pod.HttpdId, "httpd");
        await WaitLogContainsAsync(ctx, pod.BusyboxId, DefaultLog);
    }

    [Case(Context + "should support container exec")]
    public async Task ContainerExec(CaseContext ctx)
    {
        var pod = await StartPodAsync(ctx);
        Check.Equal("httpd\n", await ExecSyncContainerAsync(ctx, pod.HttpdId, "echo", "httpd"), "stdout of ExecSync(echo httpd) in the httpd container");
        Check.Equal("busybox\n", await ExecSyncContainerAsync(ctx, pod.BusyboxId, "echo", "busybox"), "stdout of ExecSync(echo busybox) in the busybox container");
    }

    private sealed record TestPod(string PodId, string HttpdId, string BusyboxId);

    private static async Task<TestPod> StartPodAsync(CaseContext ctx)
    {
        var podConfig = await PodConfigWithLogDirectoryAsync(ctx, "PodSandbox-for-multi-container-test-");
        podConfig.PortMappings.Add(new PortMapping { ContainerPort = HttpdPort });
        var podId = await ctx.RunCritestPodAsync(podConfig);

        // critest's httpd container: the image's own command, an empty Linux config.
        var httpd = Framework.Critest.ContainerConfig("httpd", ctx.Image(CritestImages.Httpd));
        httpd.Command.Clear();
        httpd.LogPath = httpd.Metadata.Name + ".log";
        var httpdId = await ctx.CreateCritestContainerAsync(podId, podConfig, httpd);
        await StartRunningAsync(ctx, httpdId);

        var busybox = Framework.Critest.ContainerConfig("busybox", ctx.Image(CritestImages.Busybox), "sh", "-c", $"echo {DefaultLog}; sleep 1000");
        busybox.Linux = null; // critest sends no Linux config here
        busybox.LogPath = busybox.Metadata.Name + ".log";
        var busyboxId = await ctx.CreateCritestContainerAsync(podId, podConfig, busybox);
        await StartRunningAsync(ctx, busyboxId);
        return new TestPod(podId, httpdId, busyboxId);
    }

    /// <summary>Reads the file ContainerStatus.log_path names until it contains <paramref name="expected"/>.</summary>
    private static async Task WaitLogContainsAsync(CaseContext ctx, string containerId, string expected)
    {
        var path = (await ctx.ContainerStatusAsync(containerId)).LogPath;
        Check.NotEmpty(path, $"ContainerStatus({containerId}).log_path");
        var until = DateTime.UtcNow + StateWait;
        while (true)
        {
            var text = File.Exists(path) ? await File.ReadAllTextAsync(path, ctx.CancellationToken) : null;
            if (text is not null && text.Contains(expected, StringComparison.Ordinal)) return;
            if (DateTime.UtcNow > until)
            {
                throw new CaseFailedException(text is null
                    ? $"log file {path} of container {containerId} does not exist"
                    : $"log {path} of container {containerId} does not contain '{expected}' after {StateWait.TotalSeconds:0} s; it holds '{text.ReplaceLineEndings("\\n")}'");
            }

            await Task.Delay(100, ctx.CancellationToken);
        }
    }
}
