using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using static CriSharp.Conformance.Cases.CritestContainerSupport;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Container OOM": a container limited to 15 MiB of memory (and 15 MiB memory+swap) that runs
/// <c>dd</c> with a 20 MiB block is killed by the OOM killer; ContainerStatus must then say EXITED, reason
/// <c>OOMKilled</c> and exit code 137.
/// </summary>
[CaseArea("critest Container OOM")]
public sealed class CritestOomCases
{
    [Case("runtime should output OOMKilled reason :: should terminate with exitCode 137 and reason OOMKilled")]
    public async Task OomKilled(CaseContext ctx)
    {
        var (podId, podConfig) = await PrivilegedPodAsync(ctx);
        var config = Framework.Critest.ContainerConfig("OOM-test-", ctx.Image(CritestImages.Busybox), "sh", "-c", "dd if=/dev/zero of=/dev/null bs=20M");
        config.Linux = new LinuxContainerConfig
        {
            Resources = new LinuxContainerResources { MemoryLimitInBytes = 15 * 1024 * 1024, MemorySwapLimitInBytes = 15 * 1024 * 1024 },
        };
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await ctx.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true }, ctx.Options);

        await ctx.StartAsync(id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, StateWait);
        ContainerStatus? status = null;
        await ctx.EventuallyAsync("ContainerStatus reason is OOMKilled", StateWait,
            async () => (status = await ctx.ContainerStatusAsync(id)).Reason == "OOMKilled");
        Check.Equal(137, status!.ExitCode, "exit_code of the OOM-killed container");
    }
}
