using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Conformance.Framework;

/// <summary>
/// Requests shaped the way critest 1.36.0 makes them, for the cases that mirror its specs
/// (<c>Cases/Critest/</c>): pod names longer than 64 characters, an empty hostname, uid and namespace
/// prefixes, attempt 2, <c>cgroup_parent</c> from RuntimeConfig's cgroup driver, containers running
/// <c>top</c> in critest's busybox, images pulled only when ImageStatus does not know them.
/// Everything a case creates is removed after it, pass or fail.
/// </summary>
public static class Critest
{
    public const uint Attempt = 2;
    public const string UidPrefix = "cri-test-uid";
    public const string NamespacePrefix = "cri-test-namespace";
    public const long StopTimeoutSeconds = 60;

    /// <summary>critest's default container command.</summary>
    public static readonly string[] DefaultCommand = ["top"];

    /// <summary>A 36-character uuid, as critest appends to every name.</summary>
    public static string Uuid() => Guid.NewGuid().ToString("D");

    /// <summary>Full reference of a critest image in the test registry: <c>ctx.Image(CritestImages.Busybox)</c>.</summary>
    public static string Image(this CaseContext ctx, string critestPath) => ctx.Registry.Path(critestPath);

    /// <summary>
    /// critest's cgroup parent: empty for the cgroupfs driver, <c>/test.slice</c> for systemd or when
    /// RuntimeConfig fails or says nothing.
    /// </summary>
    public static async Task<string> CgroupParentAsync(this CaseContext ctx)
    {
        try
        {
            var r = await ctx.Runtime.RuntimeConfigAsync(new RuntimeConfigRequest(), ctx.Options);
            return r.Linux is { CgroupDriver: CgroupDriver.Cgroupfs } ? "" : "/test.slice";
        }
        catch (RpcException)
        {
            return "/test.slice";
        }
    }

    /// <summary>A pod config as critest builds one: <paramref name="namePrefix"/> + uuid, nothing else set but the cgroup parent.</summary>
    public static async Task<PodSandboxConfig> PodConfigAsync(this CaseContext ctx, string namePrefix, string? logDirectory = null)
    {
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata
            {
                Name = namePrefix + Uuid(), Uid = UidPrefix + Uuid(), Namespace = NamespacePrefix + Uuid(), Attempt = Attempt,
            },
            Linux = new LinuxPodSandboxConfig { CgroupParent = await ctx.CgroupParentAsync() },
        };
        if (logDirectory is not null) config.LogDirectory = logDirectory;
        return config;
    }

    /// <summary>Runs a pod (removed after the case); the handler is the default one.</summary>
    public static async Task<string> RunCritestPodAsync(this CaseContext ctx, PodSandboxConfig config)
    {
        var r = await ctx.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, ctx.Options);
        Check.NotEmpty(r.PodSandboxId, $"RunPodSandbox({config.Metadata.Name}).pod_sandbox_id");
        Pods.DeferRemovePod(ctx, r.PodSandboxId);
        return r.PodSandboxId;
    }

    /// <summary>critest's CreatePodSandboxForContainer: a pod named <c>create-PodSandbox-for-container-UUID</c>.</summary>
    public static async Task<(string PodId, PodSandboxConfig Config)> PodForContainerAsync(this CaseContext ctx, string namePrefix = "create-PodSandbox-for-container-")
    {
        var config = await ctx.PodConfigAsync(namePrefix);
        return (await ctx.RunCritestPodAsync(config), config);
    }

    /// <summary>A container config: <paramref name="namePrefix"/> + uuid, attempt 2, the image, the command, an empty Linux config.</summary>
    public static ContainerConfig ContainerConfig(string namePrefix, string image, params string[] command)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = namePrefix + Uuid(), Attempt = Attempt },
            Image = new ImageSpec { Image = image },
            Linux = new LinuxContainerConfig(),
        };
        config.Command.AddRange(command.Length == 0 ? DefaultCommand : command);
        return config;
    }

    /// <summary>
    /// Pulls the image when ImageStatus does not know it (the pull is undone after the case), then CreateContainer.
    /// Returns the call's outcome so a case can expect an error.
    /// </summary>
    public static async Task<(string? Id, RpcException? Error)> TryCreateContainerAsync(this CaseContext ctx, string podId,
        PodSandboxConfig podConfig, ContainerConfig config)
    {
        await ctx.EnsureImageAsync(config.Image.Image, podConfig);
        if (config.Image.UserSpecifiedImage.Length == 0) config.Image.UserSpecifiedImage = config.Image.Image;
        try
        {
            var r = await ctx.Runtime.CreateContainerAsync(
                new CreateContainerRequest { PodSandboxId = podId, Config = config, SandboxConfig = podConfig }, ctx.Options);
            return (r.ContainerId, null);
        }
        catch (RpcException e) when (e.StatusCode is not (StatusCode.DeadlineExceeded or StatusCode.Cancelled))
        {
            return (null, e);
        }
    }

    /// <summary>Like <see cref="TryCreateContainerAsync"/>, failing the case when CreateContainer fails.</summary>
    public static async Task<string> CreateCritestContainerAsync(this CaseContext ctx, string podId, PodSandboxConfig podConfig, ContainerConfig config)
    {
        var (id, error) = await ctx.TryCreateContainerAsync(podId, podConfig, config);
        if (error is not null) throw new CaseFailedException($"CreateContainer({config.Metadata.Name}) failed: {error.StatusCode} {error.Status.Detail}");
        Check.NotEmpty(id, $"CreateContainer({config.Metadata.Name}).container_id");
        return id!;
    }

    /// <summary>critest's default container: critest's busybox running <c>top</c>.</summary>
    public static Task<string> CreateDefaultContainerAsync(this CaseContext ctx, string podId, PodSandboxConfig podConfig, string namePrefix) =>
        ctx.CreateCritestContainerAsync(podId, podConfig, ContainerConfig(namePrefix, ctx.Image(CritestImages.Busybox)));

    /// <summary>
    /// Pulls <paramref name="image"/> unless the runtime already has it; a pull made here is undone after the case,
    /// after the pods and containers the case made are gone.
    /// </summary>
    public static async Task EnsureImageAsync(this CaseContext ctx, string image, PodSandboxConfig? podConfig = null)
    {
        var status = await ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, ctx.Options);
        if (status.Image is not null) return;
        var r = await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image }, SandboxConfig = podConfig }, ctx.Options);
        Check.NotEmpty(r.ImageRef, $"PullImage({image}).image_ref");
        var id = r.ImageRef;
        ctx.DeferLast($"remove image {image}", async ct =>
        {
            try
            {
                await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = id } }, cancellationToken: ct);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.FailedPrecondition)
            {
                // gone already, or still used by another case's container
            }
        });
    }

    public static async Task StartAsync(this CaseContext ctx, string containerId) =>
        await ctx.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId }, ctx.Options);

    public static async Task StopAsync(this CaseContext ctx, string containerId, long timeoutSeconds = StopTimeoutSeconds) =>
        await ctx.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = containerId, Timeout = timeoutSeconds }, ctx.Options);

    public static async Task RemoveAsync(this CaseContext ctx, string containerId) =>
        await ctx.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = containerId }, ctx.Options);

    /// <summary>ExecSync with critest's defaults (timeout 0 = none); fails the case on a non-zero exit, returns stdout.</summary>
    public static async Task<string> ExecOkAsync(this CaseContext ctx, string containerId, params string[] command)
    {
        var r = await ctx.ExecAsync(containerId, 0, command);
        if (r.ExitCode != 0)
            throw new CaseFailedException($"ExecSync({string.Join(' ', command)}) exited {r.ExitCode}: stdout '{r.Stdout.ToStringUtf8()}' stderr '{r.Stderr.ToStringUtf8()}'");
        return r.Stdout.ToStringUtf8();
    }

    public static async Task<ExecSyncResponse> ExecAsync(this CaseContext ctx, string containerId, long timeoutSeconds, params string[] command)
    {
        var request = new ExecSyncRequest { ContainerId = containerId, Timeout = timeoutSeconds };
        request.Cmd.AddRange(command);
        return await ctx.Runtime.ExecSyncAsync(request, ctx.Options);
    }

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds; fails with <paramref name="what"/> after <paramref name="within"/>.</summary>
    public static async Task EventuallyAsync(this CaseContext ctx, string what, TimeSpan within, Func<Task<bool>> condition)
    {
        var until = DateTime.UtcNow + within;
        while (!await condition())
        {
            if (DateTime.UtcNow > until) throw new CaseFailedException($"{what}: not true after {within.TotalSeconds:0.#} s");
            await Task.Delay(100, ctx.CancellationToken);
        }
    }
}
