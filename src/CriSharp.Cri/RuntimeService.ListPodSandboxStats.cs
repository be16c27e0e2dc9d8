using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<ListPodSandboxStatsResponse> ListPodSandboxStats(ListPodSandboxStatsRequest request, ServerCallContext context)
    {
        var response = new ListPodSandboxStatsResponse();
        response.Stats.AddRange(await SelectPodStatsAsync(request.Filter, context.CancellationToken));
        return response;
    }

    async Task<IEnumerable<PodSandboxStats>> SelectPodStatsAsync(PodSandboxStatsFilter? f, CancellationToken ct)
    {
        List<Model.PodSandbox> selected = [.. sandboxes.All()
            .Where(p => f == null || string.IsNullOrEmpty(f.Id) || p.Id.StartsWith(f.Id, StringComparison.Ordinal))
            .Where(p => RuntimeMapping.Matches(p.Spec.Labels, f?.LabelSelector))
            .OrderBy(p => p.CreatedAt)];
        var samples = await stats.PodStatsAsync(selected, ct);
        var mountpoint = containers.ContainersLayerDir;
        return samples.Select(s => StatsMapping.Pod(s, mountpoint));
    }
}
