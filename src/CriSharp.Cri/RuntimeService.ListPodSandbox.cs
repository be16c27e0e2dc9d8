using CriSharp.Api.V1;
using Grpc.Core;
using E = CriSharp.Model;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context)
    {
        var response = new ListPodSandboxResponse();
        response.Items.AddRange(SelectSandboxes(request.Filter).Select(ToProto));
        return Task.FromResult(response);
    }

    IEnumerable<E.PodSandbox> SelectSandboxes(PodSandboxFilter? f) => sandboxes.All()
        .Where(p => f == null || string.IsNullOrEmpty(f.Id) || p.Id.StartsWith(f.Id, StringComparison.Ordinal))
        .Where(p => f?.State == null || RuntimeMapping.State(p.State) == f.State.State)
        .Where(p => RuntimeMapping.Matches(p.Spec.Labels, f?.LabelSelector))
        .OrderBy(p => p.CreatedAt);

    static PodSandbox ToProto(E.PodSandbox p) => new()
    {
        Id = p.Id,
        Metadata = RuntimeMapping.Metadata(p.Spec),
        State = RuntimeMapping.State(p.State),
        CreatedAt = p.CreatedAt,
        Labels = { p.Spec.Labels },
        Annotations = { p.Spec.Annotations },
        RuntimeHandler = p.RuntimeHandler,
    };
}
