using System.Text.RegularExpressions;
using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Conformance.Framework;

/// <summary>
/// Building blocks for pod and container cases: unique pod configs, pods and containers that are
/// removed after the case (pass or fail), pulls that are undone, temp log directories, polling.
/// </summary>
public static class Pods
{
    /// <summary>Kubernetes namespace of every pod a case creates.</summary>
    public const string Namespace = "cri-conformance";

    /// <summary>Label every pod and container created by a case carries (value: the case run's token).</summary>
    public const string RunLabel = "cri-conformance.run";

    /// <summary>A fresh token, unique per call (for names, uids and label values).</summary>
    public static string Token() => Guid.NewGuid().ToString("N")[..12];

    /// <summary>
    /// Creates a directory under the system temp dir for the case (e.g. a pod log_directory) and removes it
    /// after the case. The runner must run on the runtime's host for the runtime to see it.
    /// </summary>
    public static string TempDirectory(this CaseContext ctx, string prefix = "cri-conformance-")
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        ctx.Defer($"remove temp dir {dir}", _ =>
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }

            return Task.CompletedTask;
        });
        return dir;
    }

    /// <summary>
    /// A pod config the way kubelet sends one: unique name and uid, namespace <see cref="Namespace"/>,
    /// pod network/IPC, per-container PID namespace, the run label, and (optionally) a log directory.
    /// </summary>
    public static PodSandboxConfig NewPodConfig(string name, string runToken, string? logDirectory = null, bool hostNetwork = false)
    {
        var token = Token();
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = $"{name}-{token}", Uid = $"uid-{token}", Namespace = Namespace, Attempt = 0 },
            LogDirectory = logDirectory ?? "",
            Labels = { [RunLabel] = runToken },
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new NamespaceOption
                    {
                        Network = hostNetwork ? NamespaceMode.Node : NamespaceMode.Pod,
                        Pid = NamespaceMode.Container,
                        Ipc = NamespaceMode.Pod,
                    },
                },
            },
        };
        return config;
    }

    /// <summary>Runs the pod after registering a cleanup that stops and removes it (if it still exists).</summary>
    public static async Task<string> RunPodAsync(this CaseContext ctx, PodSandboxConfig config)
    {
        var r = await ctx.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, ctx.Options);
        Check.NotEmpty(r.PodSandboxId, $"RunPodSandbox({config.Metadata.Name}).pod_sandbox_id");
        DeferRemovePod(ctx, r.PodSandboxId);
        return r.PodSandboxId;
    }

    /// <summary>
    /// After the case: if the pod still exists, stop and remove it. Does not rely on stop/remove of an
    /// unknown id succeeding (containerd 1.6 answers NOT_FOUND to StopPodSandbox of an unknown id).
    /// </summary>
    public static void DeferRemovePod(CaseContext ctx, string podId) => ctx.Defer($"remove pod {podId}", async ct =>
    {
        try
        {
            await ctx.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId }, cancellationToken: ct);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return;
        }

        await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, cancellationToken: ct);
        await ctx.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, cancellationToken: ct);
    });

    /// <summary>Pulls an image after registering a cleanup that removes it by id; returns the image id (image_ref).</summary>
    public static async Task<string> PullAsync(this CaseContext ctx, string image)
    {
        var r = await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, ctx.Options);
        Check.NotEmpty(r.ImageRef, $"PullImage({image}).image_ref");
        var id = r.ImageRef;
        ctx.Defer($"remove image {image}", async ct =>
        {
            var status = await ctx.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = id } }, cancellationToken: ct);
            if (status.Image is { } found)
            {
                await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = found.Id } }, cancellationToken: ct);
            }
        });
        return id;
    }

    /// <summary>A container config for the busybox test image running <paramref name="command"/>.</summary>
    public static ContainerConfig NewContainerConfig(string name, string image, string runToken, params string[] command)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name, Attempt = 0 },
            Image = new ImageSpec { Image = image },
            Labels = { [RunLabel] = runToken },
            Linux = new LinuxContainerConfig
            {
                SecurityContext = new LinuxContainerSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Pod, Pid = NamespaceMode.Container, Ipc = NamespaceMode.Pod },
                },
            },
        };
        config.Command.AddRange(command);
        return config;
    }

    /// <summary>Creates a container (removed with its pod, or explicitly after the case if the pod survives).</summary>
    public static async Task<string> CreateContainerAsync(this CaseContext ctx, string podId, PodSandboxConfig podConfig, ContainerConfig config)
    {
        var r = await ctx.Runtime.CreateContainerAsync(
            new CreateContainerRequest { PodSandboxId = podId, Config = config, SandboxConfig = podConfig }, ctx.Options);
        Check.NotEmpty(r.ContainerId, $"CreateContainer({config.Metadata.Name}).container_id");
        return r.ContainerId;
    }

    public static async Task<PodSandboxStatus> PodStatusAsync(this CaseContext ctx, string podId)
    {
        var r = await ctx.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId }, ctx.Options);
        return Check.NotNull(r.Status, $"PodSandboxStatus({podId}).status");
    }

    public static async Task<ContainerStatus> ContainerStatusAsync(this CaseContext ctx, string containerId)
    {
        var r = await ctx.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId }, ctx.Options);
        return Check.NotNull(r.Status, $"ContainerStatus({containerId}).status");
    }

    /// <summary>Polls ContainerStatus until the container is in <paramref name="state"/>; fails after <paramref name="within"/>.</summary>
    public static async Task<ContainerStatus> WaitContainerStateAsync(this CaseContext ctx, string containerId, ContainerState state, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (true)
        {
            var status = await ctx.ContainerStatusAsync(containerId);
            if (status.State == state)
            {
                return status;
            }

            if (DateTime.UtcNow > until)
            {
                throw Check.Fail($"container {containerId} is {status.State} {within.TotalSeconds:F0} s later, expected {state} (reason '{status.Reason}', message '{status.Message}')");
            }

            await Task.Delay(100, ctx.CancellationToken);
        }
    }

    /// <summary>One parsed line of a CRI container log: <c>TIMESTAMP STREAM TAG CONTENT</c>.</summary>
    public sealed record LogLine(DateTimeOffset Time, string Stream, string Tag, string Content);

    private static readonly Regex LogLineRegex = new(@"^(\S+) (stdout|stderr) ([FP]) (.*)$", RegexOptions.CultureInvariant);

    /// <summary>Parses a CRI-format log file; a line that is not in the format fails the case.</summary>
    public static IReadOnlyList<LogLine> ParseCriLog(string path, string text)
    {
        var lines = new List<LogLine>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            var m = LogLineRegex.Match(line);
            if (!m.Success)
            {
                throw Check.Fail($"{path}: line '{line}' is not in the CRI log format 'TIMESTAMP STREAM F|P CONTENT'");
            }

            if (!DateTimeOffset.TryParse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var time))
            {
                throw Check.Fail($"{path}: line '{line}' has no RFC 3339 timestamp");
            }

            lines.Add(new LogLine(time, m.Groups[2].Value, m.Groups[3].Value, m.Groups[4].Value));
        }

        return lines;
    }

    /// <summary>Polls a CRI log file until it has a full stdout line; returns the parsed lines.</summary>
    public static async Task<IReadOnlyList<LogLine>> WaitLogAsync(this CaseContext ctx, string path, Func<IReadOnlyList<LogLine>, bool> done, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (true)
        {
            var text = File.Exists(path) ? await File.ReadAllTextAsync(path, ctx.CancellationToken) : null;
            var lines = text is null ? [] : ParseCriLog(path, text);
            if (done(lines))
            {
                return lines;
            }

            if (DateTime.UtcNow > until)
            {
                throw Check.Fail(text is null
                    ? $"log file {path} does not exist {within.TotalSeconds:F0} s after the container exited"
                    : $"log file {path} lacks the expected lines {within.TotalSeconds:F0} s after the container exited; it holds: '{text.ReplaceLineEndings("\\n")}'");
            }

            await Task.Delay(100, ctx.CancellationToken);
        }
    }

    public static string Show(IEnumerable<string> ids) => "[" + string.Join(", ", ids) + "]";
}
