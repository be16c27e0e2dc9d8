using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "PodSandbox": a safe and an unsafe (namespaced) sysctl in the pod, run/stop/remove with the state
/// PodSandboxStatus and ListPodSandbox report, and metadata, labels and annotations preserved. The two benchmarks
/// are left out.
/// </summary>
[CaseArea("critest PodSandbox")]
public sealed class CritestPodSandboxCases
{
    [Case("runtime should support sysctls :: should support safe sysctls")]
    public Task SafeSysctl(CaseContext ctx) => SysctlAsync(ctx, "kernel.shm_rmid_forced", "1", "container-shm-rmid-forced");

    [Case("runtime should support sysctls :: should support unsafe sysctls")]
    public Task UnsafeSysctl(CaseContext ctx) => SysctlAsync(ctx, "fs.mqueue.msg_max", "100", "container-fs-mqueue-msg-max");

    [Case("runtime should support basic operations on PodSandbox :: runtime should support running PodSandbox [Conformance]")]
    public async Task Running(CaseContext ctx)
    {
        var podId = await RunDefaultPodAsync(ctx, "PodSandbox-for-create-test-");
        Check.Equal(PodSandboxState.SandboxReady, (await ctx.PodStatusAsync(podId)).State, "PodSandboxStatus.state after RunPodSandbox");
        Check.True((await ListByIdAsync(ctx, podId)).Any(p => p.Id == podId), $"ListPodSandbox(id {podId}) does not list the pod");
    }

    [Case("runtime should support basic operations on PodSandbox :: runtime should support stopping PodSandbox [Conformance]")]
    public async Task Stopping(CaseContext ctx)
    {
        var podId = await RunDefaultPodAsync(ctx, "PodSandbox-for-test-stop-");
        await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, ctx.Options);
        Check.Equal(PodSandboxState.SandboxNotready, (await ctx.PodStatusAsync(podId)).State, "PodSandboxStatus.state after StopPodSandbox");
    }

    [Case("runtime should support basic operations on PodSandbox :: runtime should support removing PodSandbox [Conformance]")]
    public async Task Removing(CaseContext ctx)
    {
        var podId = await RunDefaultPodAsync(ctx, "PodSandbox-for-test-remove-");
        await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, ctx.Options);
        await ctx.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, ctx.Options);
        Check.True((await ListByIdAsync(ctx, podId)).All(p => p.Id != podId), $"ListPodSandbox(id {podId}) still lists the removed pod");
    }

    [Case("runtime should support basic operations on PodSandbox :: runtime should support preserving PodSandbox attributes [Conformance]")]
    public async Task Attributes(CaseContext ctx)
    {
        var config = await ctx.PodConfigAsync("PodSandbox-with-attributes-");
        var metadata = config.Metadata;
        var labels = new Dictionary<string, string>
        {
            ["foo"] = "bar",
            ["io.kubernetes.pod.name"] = metadata.Name,
            ["io.kubernetes.pod.namespace"] = metadata.Namespace,
            ["io.kubernetes.pod.uid"] = metadata.Uid,
        };
        var annotations = new Dictionary<string, string> { ["abc"] = "def" };
        config.Labels.Add(labels);
        config.Annotations.Add(annotations);
        var podId = await ctx.RunCritestPodAsync(config);

        var status = await ctx.PodStatusAsync(podId);
        CheckAttributes("PodSandboxStatus", metadata, labels, annotations, status.Metadata, status.Labels, status.Annotations);
        var pods = await ListByIdAsync(ctx, podId);
        Check.Equal(1, pods.Count, $"ListPodSandbox(id {podId}) entries");
        CheckAttributes("ListPodSandbox", metadata, labels, annotations, pods[0].Metadata, pods[0].Labels, pods[0].Annotations);
    }

    private static async Task SysctlAsync(CaseContext ctx, string name, string value, string containerPrefix)
    {
        var config = await ctx.PodConfigAsync("pod-sandbox-with-sysctls-");
        config.Linux.Sysctls[name] = value;
        var podId = await ctx.RunPodForImageAsync(config, ctx.Image(CritestImages.Busybox));
        var containerId = await ctx.StartDefaultContainerAsync(podId, config, containerPrefix);
        var path = "/proc/sys/" + name.Replace('.', '/');
        var (stdout, _) = await ctx.ExecSyncAsync(containerId, "cat", path);
        Check.Equal(value, stdout.Trim(), $"{path} in the container");
    }

    /// <summary>critest's RunDefaultPodSandbox: <paramref name="prefix"/> + uuid, the cgroup parent, no other settings.</summary>
    private static async Task<string> RunDefaultPodAsync(CaseContext ctx, string prefix) => await ctx.RunCritestPodAsync(await ctx.PodConfigAsync(prefix));

    private static async Task<IReadOnlyList<PodSandbox>> ListByIdAsync(CaseContext ctx, string podId) =>
        (await ctx.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest { Filter = new PodSandboxFilter { Id = podId } }, ctx.Options)).Items;

    private static void CheckAttributes(string source, PodSandboxMetadata want, Dictionary<string, string> labels, Dictionary<string, string> annotations,
        PodSandboxMetadata? got, IDictionary<string, string> gotLabels, IDictionary<string, string> gotAnnotations)
    {
        Check.True(want.Equals(got), $"{source}.metadata is {got}, want {want}");
        foreach (var (kind, expected, actual) in new[] { ("labels", labels, gotLabels), ("annotations", annotations, gotAnnotations) })
        {
            foreach (var (k, v) in expected)
            {
                Check.True(actual.TryGetValue(k, out var a) && a == v, $"{source}.{kind}[{k}] is '{(actual.TryGetValue(k, out var x) ? x : "(missing)")}', want '{v}'");
            }
        }
    }
}
