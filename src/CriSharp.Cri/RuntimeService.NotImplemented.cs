using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

// RPCs whose issue has not landed: each answers UNIMPLEMENTED naming itself.
public sealed partial class RuntimeService
{
    public override Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context) => throw Unimplemented(nameof(ExecSync));
    public override Task<ExecResponse> Exec(ExecRequest request, ServerCallContext context) => throw Unimplemented(nameof(Exec));
    public override Task<AttachResponse> Attach(AttachRequest request, ServerCallContext context) => throw Unimplemented(nameof(Attach));
    public override Task<PortForwardResponse> PortForward(PortForwardRequest request, ServerCallContext context) => throw Unimplemented(nameof(PortForward));
    public override Task<ContainerStatsResponse> ContainerStats(ContainerStatsRequest request, ServerCallContext context) => throw Unimplemented(nameof(ContainerStats));
    public override Task<ListContainerStatsResponse> ListContainerStats(ListContainerStatsRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListContainerStats));
    public override Task StreamContainerStats(StreamContainerStatsRequest request, IServerStreamWriter<StreamContainerStatsResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(StreamContainerStats));
    public override Task<PodSandboxStatsResponse> PodSandboxStats(PodSandboxStatsRequest request, ServerCallContext context) => throw Unimplemented(nameof(PodSandboxStats));
    public override Task<ListPodSandboxStatsResponse> ListPodSandboxStats(ListPodSandboxStatsRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListPodSandboxStats));
    public override Task StreamPodSandboxStats(StreamPodSandboxStatsRequest request, IServerStreamWriter<StreamPodSandboxStatsResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(StreamPodSandboxStats));
    // Not planned: checkpoint/restore needs CRIU, which CriSharp does not drive.
    public override Task<CheckpointContainerResponse> CheckpointContainer(CheckpointContainerRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "CheckpointContainer is not supported by crisharp (no CRIU support)"));
    public override Task GetContainerEvents(GetEventsRequest request, IServerStreamWriter<ContainerEventResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(GetContainerEvents));
    public override Task<ListMetricDescriptorsResponse> ListMetricDescriptors(ListMetricDescriptorsRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListMetricDescriptors));
    public override Task<ListPodSandboxMetricsResponse> ListPodSandboxMetrics(ListPodSandboxMetricsRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListPodSandboxMetrics));
    public override Task StreamPodSandboxMetrics(StreamPodSandboxMetricsRequest request, IServerStreamWriter<StreamPodSandboxMetricsResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(StreamPodSandboxMetrics));
    public override Task<UpdatePodSandboxResourcesResponse> UpdatePodSandboxResources(UpdatePodSandboxResourcesRequest request, ServerCallContext context) => throw Unimplemented(nameof(UpdatePodSandboxResources));
}
