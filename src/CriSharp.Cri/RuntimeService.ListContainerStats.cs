using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override async Task<ListContainerStatsResponse> ListContainerStats(ListContainerStatsRequest request, ServerCallContext context)
    {
        var response = new ListContainerStatsResponse();
        response.Stats.AddRange(await SelectContainerStatsAsync(request.Filter, context.CancellationToken));
        return response;
    }

    async Task<IEnumerable<ContainerStats>> SelectContainerStatsAsync(ContainerStatsFilter? f, CancellationToken ct)
    {
        List<ContainerRecord> selected = [.. containers.List()
            .Where(c => f == null || string.IsNullOrEmpty(f.Id) || c.Id.StartsWith(f.Id, StringComparison.Ordinal))
            .Where(c => f == null || string.IsNullOrEmpty(f.PodSandboxId) || c.SandboxId.StartsWith(f.PodSandboxId, StringComparison.Ordinal))
            .Where(c => RuntimeMapping.Matches(c.Spec.Labels, f?.LabelSelector))
            .OrderBy(c => c.CreatedAt)];
        var samples = await stats.ContainerStatsAsync(selected, ct);
        var mountpoint = containers.ContainersLayerDir;
        return samples.Select(s => StatsMapping.Container(s, mountpoint));
    }
}
