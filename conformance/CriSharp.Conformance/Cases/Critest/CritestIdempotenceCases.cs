using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using static CriSharp.Conformance.Cases.CritestContainerSupport;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Idempotence" (api.proto: stop and remove calls are idempotent): StopPodSandbox,
/// RemovePodSandbox, StopContainer, RemoveContainer and RemoveImage succeed for ids the runtime does not know,
/// stopping a stopped pod succeeds, and removing a removed container succeeds.
/// </summary>
[CaseArea("critest Idempotence")]
public sealed class CritestIdempotenceCases
{
    [Case("StopPodSandbox :: should not return an error if not found")]
    public async Task StopPodNotFound(CaseContext ctx) =>
        await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = Framework.Critest.Uuid() }, ctx.Options);

    [Case("StopPodSandbox :: should not return an error if already stopped")]
    public async Task StopPodTwice(CaseContext ctx)
    {
        var podId = await ctx.RunCritestPodAsync(await ctx.PodConfigAsync("idempotence-pod-"));
        for (var i = 1; i <= 2; i++)
        {
            await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, ctx.Options);
            Check.Equal(PodSandboxState.SandboxNotready, (await ctx.PodStatusAsync(podId)).State, $"pod state after StopPodSandbox #{i}");
        }

        await ctx.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, ctx.Options);
    }

    [Case("RemovePodSandbox :: should not return an error if not found")]
    public async Task RemovePodNotFound(CaseContext ctx) =>
        await ctx.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = Framework.Critest.Uuid() }, ctx.Options);

    [Case("StopContainer :: should not return an error if not found")]
    public async Task StopContainerNotFound(CaseContext ctx) =>
        await ctx.StopAsync(Framework.Critest.Uuid(), timeoutSeconds: 0);

    // The spec's title says "stopped", its body removes a stopped container twice.
    [Case("StopContainer :: should not return an error if already stopped")]
    public async Task RemoveStoppedContainerTwice(CaseContext ctx)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, PauseContainer(ctx, "idempotence-container-"));
        await ctx.StartAsync(id);
        await StopExitedAsync(ctx, id);
        await ctx.RemoveAsync(id);
        await ctx.RemoveAsync(id);
        await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, ctx.Options);
        await ctx.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, ctx.Options);
    }

    [Case("RemoveContainer :: should not return an error if not found")]
    public async Task RemoveContainerNotFound(CaseContext ctx) => await ctx.RemoveAsync(Framework.Critest.Uuid());

    [Case("RemoveImage :: should not return an error if not found")]
    public async Task RemoveImageNotFound(CaseContext ctx)
    {
        var fakeId = new string('0', 64);
        for (var i = 0; i < 2; i++)
        {
            await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = fakeId } }, ctx.Options);
        }
    }
}
