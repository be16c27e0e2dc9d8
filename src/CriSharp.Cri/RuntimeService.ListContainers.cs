using CriSharp.Api.V1;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context)
    {
        var response = new ListContainersResponse();
        response.Containers.AddRange(SelectContainers(request.Filter).Select(ToProto));
        return Task.FromResult(response);
    }

    IEnumerable<ContainerRecord> SelectContainers(ContainerFilter? f) => containers.List()
        .Where(c => f == null || string.IsNullOrEmpty(f.Id) || c.Id.StartsWith(f.Id, StringComparison.Ordinal))
        .Where(c => f == null || string.IsNullOrEmpty(f.PodSandboxId) || c.SandboxId.StartsWith(f.PodSandboxId, StringComparison.Ordinal))
        .Where(c => f?.State == null || RuntimeMapping.State(c.State) == f.State.State)
        .Where(c => RuntimeMapping.Matches(c.Spec.Labels, f?.LabelSelector))
        .OrderBy(c => c.CreatedAt);

    static Container ToProto(ContainerRecord c) => new()
    {
        Id = c.Id,
        PodSandboxId = c.SandboxId,
        Metadata = new ContainerMetadata { Name = c.Spec.Name, Attempt = c.Spec.Attempt },
        Image = new ImageSpec { Image = c.Spec.Image },
        ImageRef = c.ImageId,
        ImageId = c.ImageId,
        State = RuntimeMapping.State(c.State),
        CreatedAt = c.CreatedAt,
        Labels = { c.Spec.Labels },
        Annotations = { c.Spec.Annotations },
    };
}
