using System.Text.RegularExpressions;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;
using static CriSharp.Conformance.Cases.CritestSecuritySupport;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0's "Security Context / UserNamespaces" specs: the default handler must advertise
/// runtime_handlers[].features.user_namespaces (critest skips otherwise; here the case fails), a POD-mode pod
/// with one 0 → 1000 × 100000 mapping shows it in the container's /proc/self/uid_map, a NODE-mode pod shows the
/// host's mapping, and RunPodSandbox fails for two mappings, an unmapped container id 0, CONTAINER and TARGET.
/// </summary>
[CaseArea("critest Security Context")]
public sealed class CritestUserNamespaceCases
{
    static readonly IDMapping DefaultMapping = new() { ContainerId = 0, HostId = 1000, Length = 100000 };

    /// <summary>critest's BeforeEach: Status(verbose) once, then the entry of its runtime handler ("" by default).</summary>
    static async Task RequireUserNamespacesAsync(CaseContext ctx)
    {
        var status = await ctx.Runtime.StatusAsync(new StatusRequest { Verbose = true }, ctx.Options);
        var handler = status.RuntimeHandlers.FirstOrDefault(h => h.Name == "");
        Check.True(handler?.Features?.UserNamespaces == true,
            "the default runtime handler (\"\") does not advertise runtime_handlers[].features.user_namespaces (critest skips; kubelet sends no hostUsers: false pods to it)");
    }

    /// <summary>critest's runUserNamespaceContainer: <c>cat /proc/self/uid_map</c> with the pod's namespace options, run to EXITED.</summary>
    static async Task<(PodSandboxConfig Pod, ContainerConfig Container)> RunUidMapContainerAsync(CaseContext ctx, UserNamespace userns)
    {
        var options = new NamespaceOption { UsernsOptions = userns };
        var (podId, pod) = await NamespacePodAsync(ctx, options, withLogDirectory: true);
        var config = Busybox(ctx, "user-namespaces-container-", new LinuxContainerSecurityContext { NamespaceOptions = options }, "cat", "/proc/self/uid_map");
        config.LogPath = config.Metadata.Name + ".log";
        await ExitedAsync(ctx, podId, pod, config);
        return (pod, config);
    }

    [Case("UserNamespaces / when Host idmap mount support is needed :: runtime should support NamespaceMode_POD")]
    public async Task PodMode(CaseContext ctx)
    {
        await RequireUserNamespacesAsync(ctx);
        var (pod, config) = await RunUidMapContainerAsync(ctx, new UserNamespace { Mode = NamespaceMode.Pod, Uids = { DefaultMapping }, Gids = { DefaultMapping } });
        var pattern = new Regex(@"\s+0\s+1000\s+100000$");
        await ctx.WaitLogAsync(LogFile(pod, config), lines => lines.Any(l => l.Stream == "stdout" && pattern.IsMatch(l.Content)), Wait);
    }

    [Case("UserNamespaces / when Host idmap mount support is not needed :: runtime should support NamespaceMode_NODE")]
    public async Task NodeMode(CaseContext ctx)
    {
        await RequireUserNamespacesAsync(ctx);
        var (pod, config) = await RunUidMapContainerAsync(ctx, new UserNamespace { Mode = NamespaceMode.Node });
        // The runner shares the runtime's host: its own uid_map is the host's.
        var host = File.ReadAllLines("/proc/self/uid_map").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length == 3).ToList();
        Check.True(host.Count > 0, "the runner's /proc/self/uid_map is empty");
        foreach (var f in host)
        {
            var pattern = new Regex($@"\s+{f[0]}\s+{f[1]}\s+{f[2]}");
            await ctx.WaitLogAsync(LogFile(pod, config), lines => lines.Any(l => l.Stream == "stdout" && pattern.IsMatch(l.Content)), Wait);
        }
    }

    [Case("UserNamespaces / when Host idmap mount support is not needed :: runtime should fail if more than one mapping provided")]
    public Task TwoMappings(CaseContext ctx)
    {
        var second = new IDMapping { ContainerId = 0, HostId = 2000, Length = 100000 };
        return FailsAsync(ctx, new UserNamespace { Mode = NamespaceMode.Pod, Uids = { DefaultMapping, second }, Gids = { DefaultMapping, second } });
    }

    [Case("UserNamespaces / when Host idmap mount support is not needed :: runtime should fail if container ID 0 is not mapped")]
    public Task RootUnmapped(CaseContext ctx)
    {
        var mapping = new IDMapping { ContainerId = 1, HostId = 1000, Length = 100000 };
        return FailsAsync(ctx, new UserNamespace { Mode = NamespaceMode.Pod, Uids = { mapping }, Gids = { mapping } });
    }

    [Case("UserNamespaces / when Host idmap mount support is not needed :: runtime should fail with NamespaceMode_CONTAINER")]
    public Task ContainerMode(CaseContext ctx) => FailsAsync(ctx, new UserNamespace { Mode = NamespaceMode.Container });

    [Case("UserNamespaces / when Host idmap mount support is not needed :: runtime should fail with NamespaceMode_TARGET")]
    public Task TargetMode(CaseContext ctx) => FailsAsync(ctx, new UserNamespace { Mode = NamespaceMode.Target });

    /// <summary>critest's runUserNamespacePodWithError: a pod with only metadata and the options (its Linux labels are none); RunPodSandbox must fail.</summary>
    static async Task FailsAsync(CaseContext ctx, UserNamespace userns)
    {
        await RequireUserNamespacesAsync(ctx);
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata
            {
                Name = "user-namespaces-pod-" + Critest.Uuid(), Uid = Critest.UidPrefix + Critest.Uuid(),
                Namespace = Critest.NamespacePrefix + Critest.Uuid(), Attempt = Critest.Attempt,
            },
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { UsernsOptions = userns } },
            },
        };
        try
        {
            var r = await ctx.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config }, ctx.Options);
            Pods.DeferRemovePod(ctx, r.PodSandboxId);
            throw new CaseFailedException($"RunPodSandbox with userns_options {userns} succeeded (pod {r.PodSandboxId}); it must fail");
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled && !ctx.CancellationToken.IsCancellationRequested)
        {
            // Any error passes critest; the status code is not checked there either.
        }
    }
}
