using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// Pod sandbox lifecycle: RunPodSandbox, PodSandboxStatus, ListPodSandbox filters, StopPodSandbox,
/// RemovePodSandbox and their idempotence (api.proto: stop and remove "must not return an error" when
/// already done; critest pkg/validate/pod.go and idempotence.go). Every pod is removed after its case.
/// </summary>
[CaseArea("Pod")]
public sealed class PodCases
{
    [Case("RunPodSandbox returns an id and the pod is READY")]
    public async Task RunReady(CaseContext ctx)
    {
        var id = await ctx.RunPodAsync(Pods.NewPodConfig("run", Pods.Token()));
        var status = await ctx.PodStatusAsync(id);
        Check.Equal(id, status.Id, "PodSandboxStatus id");
        Check.Equal(PodSandboxState.SandboxReady, status.State, "state");
    }

    [Case("PodSandboxStatus echoes metadata, labels, annotations and namespace options")]
    public async Task StatusEchoes(CaseContext ctx)
    {
        var config = Pods.NewPodConfig("attrs", Pods.Token());
        config.Metadata.Attempt = 2;
        config.Labels["app"] = "conformance";
        config.Labels["io.kubernetes.pod.name"] = config.Metadata.Name;
        config.Annotations["example.com/annotation"] = "a value with spaces, = and \"quotes\"";
        config.Annotations["empty"] = "";
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000 - 5_000_000_000L;
        var id = await ctx.RunPodAsync(config);

        var status = await ctx.PodStatusAsync(id);
        var md = Check.NotNull(status.Metadata, "status.metadata");
        Check.Equal(config.Metadata.Name, md.Name, "metadata.name");
        Check.Equal(config.Metadata.Uid, md.Uid, "metadata.uid");
        Check.Equal(config.Metadata.Namespace, md.Namespace, "metadata.namespace");
        Check.Equal(config.Metadata.Attempt, md.Attempt, "metadata.attempt");
        Check.True(status.CreatedAt > before, $"created_at {status.CreatedAt} is not a Unix time in nanoseconds of now (>= {before})");
        CheckMap(config.Labels, status.Labels, "labels");
        CheckMap(config.Annotations, status.Annotations, "annotations");

        var options = status.Linux?.Namespaces?.Options;
        Check.NotNull(options, "status.linux.namespaces.options");
        var want = config.Linux.SecurityContext.NamespaceOptions;
        Check.Equal(want.Network, options!.Network, "namespace options network");
        Check.Equal(want.Pid, options.Pid, "namespace options pid");
        Check.Equal(want.Ipc, options.Ipc, "namespace options ipc");

        var listed = await ListAsync(ctx, new PodSandboxFilter { Id = id });
        Check.Equal(1, listed.Count, $"ListPodSandbox(id {id}) entries");
        var pod = listed[0];
        Check.Equal(config.Metadata.Name, pod.Metadata?.Name, "ListPodSandbox metadata.name");
        Check.Equal(config.Metadata.Uid, pod.Metadata?.Uid, "ListPodSandbox metadata.uid");
        Check.Equal(config.Metadata.Attempt, pod.Metadata?.Attempt, "ListPodSandbox metadata.attempt");
        Check.Equal(status.CreatedAt, pod.CreatedAt, "ListPodSandbox created_at vs PodSandboxStatus created_at");
        CheckMap(config.Labels, pod.Labels, "ListPodSandbox labels");
        CheckMap(config.Annotations, pod.Annotations, "ListPodSandbox annotations");
    }

    [Case("ListPodSandbox filters by id, state and label selector")]
    public async Task ListFilters(CaseContext ctx)
    {
        var run = Pods.Token();
        var c1 = Pods.NewPodConfig("filter-a", run);
        c1.Labels["which"] = "a";
        var c2 = Pods.NewPodConfig("filter-b", run);
        c2.Labels["which"] = "b";
        var a = await ctx.RunPodAsync(c1);
        var b = await ctx.RunPodAsync(c2);
        await StopAsync(ctx, b);

        async Task Expect(PodSandboxFilter filter, string what, params string[] want)
        {
            var got = (await ListAsync(ctx, filter)).Select(p => p.Id).Order().ToList();
            Check.True(got.SequenceEqual(want.Order()), $"ListPodSandbox({what}) returned {Pods.Show(got)}, want {Pods.Show(want)}");
        }

        var all = (await ListAsync(ctx, null)).Select(p => p.Id).ToList();
        Check.True(all.Contains(a) && all.Contains(b), $"unfiltered ListPodSandbox {Pods.Show(all)} lacks {a} or {b}");
        await Expect(new PodSandboxFilter { Id = a }, $"id {a}", a);
        await Expect(new PodSandboxFilter { Id = b }, $"id {b}", b);
        await Expect(new PodSandboxFilter { LabelSelector = { [Pods.RunLabel] = run } }, "run label", a, b);
        await Expect(new PodSandboxFilter { LabelSelector = { [Pods.RunLabel] = run, ["which"] = "b" } }, "run label and which=b", b);
        await Expect(new PodSandboxFilter { LabelSelector = { [Pods.RunLabel] = run, ["which"] = "c" } }, "run label and which=c");
        await Expect(new PodSandboxFilter { LabelSelector = { [Pods.RunLabel] = run }, State = new PodSandboxStateValue { State = PodSandboxState.SandboxReady } }, "run label, READY", a);
        await Expect(new PodSandboxFilter { LabelSelector = { [Pods.RunLabel] = run }, State = new PodSandboxStateValue { State = PodSandboxState.SandboxNotready } }, "run label, NOTREADY", b);
        await Expect(new PodSandboxFilter { Id = a, State = new PodSandboxStateValue { State = PodSandboxState.SandboxNotready } }, $"id {a}, NOTREADY");
    }

    [Case("StopPodSandbox makes the pod NOTREADY")]
    public async Task StopNotReady(CaseContext ctx)
    {
        var id = await ctx.RunPodAsync(Pods.NewPodConfig("stop", Pods.Token()));
        await StopAsync(ctx, id);
        Check.Equal(PodSandboxState.SandboxNotready, (await ctx.PodStatusAsync(id)).State, "state after StopPodSandbox");
        var listed = await ListAsync(ctx, new PodSandboxFilter { Id = id });
        Check.True(listed.Count == 1 && listed[0].State == PodSandboxState.SandboxNotready,
            $"ListPodSandbox(id {id}) after stop: {string.Join(", ", listed.Select(p => $"{p.Id} {p.State}"))}");
    }

    [Case("StopPodSandbox twice succeeds")]
    public async Task StopTwice(CaseContext ctx)
    {
        var id = await ctx.RunPodAsync(Pods.NewPodConfig("stop-twice", Pods.Token()));
        await StopAsync(ctx, id);
        await StopAsync(ctx, id);
        Check.Equal(PodSandboxState.SandboxNotready, (await ctx.PodStatusAsync(id)).State, "state after two StopPodSandbox");
    }

    [Case("RemovePodSandbox removes the pod: status NOT_FOUND, not listed")]
    public async Task RemoveRemoves(CaseContext ctx)
    {
        var id = await ctx.RunPodAsync(Pods.NewPodConfig("remove", Pods.Token()));
        await StopAsync(ctx, id);
        await RemoveAsync(ctx, id);
        await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.PodStatusAsync(id), $"PodSandboxStatus({id}) after RemovePodSandbox");
        var listed = await ListAsync(ctx, new PodSandboxFilter { Id = id });
        Check.True(listed.Count == 0, $"ListPodSandbox(id {id}) still lists the removed pod");
        Check.True((await ListAsync(ctx, null)).All(p => p.Id != id), $"ListPodSandbox still lists the removed pod {id}");
    }

    [Case("RemovePodSandbox twice succeeds")]
    public async Task RemoveTwice(CaseContext ctx)
    {
        var id = await ctx.RunPodAsync(Pods.NewPodConfig("remove-twice", Pods.Token()));
        await StopAsync(ctx, id);
        await RemoveAsync(ctx, id);
        await RemoveAsync(ctx, id);
    }

    // api.proto: RemovePodSandbox "If there are any running containers in the sandbox, they must be
    // forcibly terminated and removed" — the same holds for the sandbox itself.
    [Case("RemovePodSandbox of a READY pod succeeds")]
    public async Task RemoveReady(CaseContext ctx)
    {
        var id = await ctx.RunPodAsync(Pods.NewPodConfig("remove-ready", Pods.Token()));
        await RemoveAsync(ctx, id);
        await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.PodStatusAsync(id), $"PodSandboxStatus({id}) after RemovePodSandbox");
    }

    // critest Idempotence "StopPodSandbox should not return an error if not found" (cri-tools#1536);
    // containerd fixed this in 2.0 and on release/1.6 with containerd#10531 (after 1.6.20).
    [Case("StopPodSandbox of an unknown id succeeds")]
    public async Task StopUnknown(CaseContext ctx) => await StopAsync(ctx, UnknownId());

    [Case("RemovePodSandbox of an unknown id succeeds")]
    public async Task RemoveUnknown(CaseContext ctx) => await RemoveAsync(ctx, UnknownId());

    [Case("PodSandboxStatus of an unknown id fails with NOT_FOUND")]
    public async Task StatusUnknown(CaseContext ctx)
    {
        var id = UnknownId();
        await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.PodStatusAsync(id), $"PodSandboxStatus({id})");
    }

    [Case("A host-network pod is READY and reports network namespace NODE")]
    public async Task HostNetwork(CaseContext ctx)
    {
        var config = Pods.NewPodConfig("hostnet", Pods.Token(), hostNetwork: true);
        var id = await ctx.RunPodAsync(config);
        var status = await ctx.PodStatusAsync(id);
        Check.Equal(PodSandboxState.SandboxReady, status.State, "state");
        Check.Equal(NamespaceMode.Node, status.Linux?.Namespaces?.Options?.Network, "namespace options network");
        await StopAsync(ctx, id);
        await RemoveAsync(ctx, id);
        await Check.RpcFailsAsync(StatusCode.NotFound, () => ctx.PodStatusAsync(id), $"PodSandboxStatus({id}) after RemovePodSandbox");
    }

    /// <summary>A 64-hex id that no runtime has handed out.</summary>
    internal static string UnknownId() => Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());

    private static void CheckMap(IDictionary<string, string> want, IDictionary<string, string> got, string what)
    {
        static string Show(IDictionary<string, string> m) => "{" + string.Join(", ", m.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")) + "}";
        Check.True(want.Count == got.Count && want.All(kv => got.TryGetValue(kv.Key, out var v) && v == kv.Value),
            $"{what}: expected {Show(want)}, got {Show(got)}");
    }

    private static async Task<IReadOnlyList<PodSandbox>> ListAsync(CaseContext ctx, PodSandboxFilter? filter) =>
        (await ctx.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest { Filter = filter }, ctx.Options)).Items;

    private static async Task StopAsync(CaseContext ctx, string id) =>
        await ctx.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = id }, ctx.Options);

    private static async Task RemoveAsync(CaseContext ctx, string id) =>
        await ctx.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = id }, ctx.Options);
}
