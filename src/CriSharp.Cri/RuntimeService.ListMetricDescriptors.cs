using CriSharp.Api.V1;
using CriSharp.Runtime.Stats;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<ListMetricDescriptorsResponse> ListMetricDescriptors(ListMetricDescriptorsRequest request, ServerCallContext context)
    {
        var response = new ListMetricDescriptorsResponse();
        response.Descriptors.AddRange(CadvisorMetrics.Descriptors.Select(StatsMapping.Descriptor));
        return Task.FromResult(response);
    }
}
