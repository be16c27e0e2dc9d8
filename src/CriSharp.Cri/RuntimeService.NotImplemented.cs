using Grpc.Core;
using Runtime.V1;

namespace CriSharp.Cri;

// RPCs whose issue has not landed: each answers UNIMPLEMENTED naming itself.
public sealed partial class RuntimeService
{
    public override Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context) => throw Unimplemented(nameof(RunPodSandbox));
    public override Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context) => throw Unimplemented(nameof(StopPodSandbox));
    public override Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context) => throw Unimplemented(nameof(RemovePodSandbox));
    public override Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context) => throw Unimplemented(nameof(PodSandboxStatus));
    public override Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListPodSandbox));
    public override Task StreamPodSandboxes(StreamPodSandboxesRequest request, IServerStreamWriter<StreamPodSandboxesResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(StreamPodSandboxes));
    public override Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context) => throw Unimplemented(nameof(CreateContainer));
    public override Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context) => throw Unimplemented(nameof(StartContainer));
    public override Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context) => throw Unimplemented(nameof(StopContainer));
    public override Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context) => throw Unimplemented(nameof(RemoveContainer));
    public override Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListContainers));
    public override Task StreamContainers(StreamContainersRequest request, IServerStreamWriter<StreamContainersResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(StreamContainers));
    public override Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context) => throw Unimplemented(nameof(ContainerStatus));
    public override Task<UpdateContainerResourcesResponse> UpdateContainerResources(UpdateContainerResourcesRequest request, ServerCallContext context) => throw Unimplemented(nameof(UpdateContainerResources));
    public override Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context) => throw Unimplemented(nameof(ReopenContainerLog));
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
    public override Task<CheckpointContainerResponse> CheckpointContainer(CheckpointContainerRequest request, ServerCallContext context) => throw Unimplemented(nameof(CheckpointContainer));
    public override Task GetContainerEvents(GetEventsRequest request, IServerStreamWriter<ContainerEventResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(GetContainerEvents));
    public override Task<ListMetricDescriptorsResponse> ListMetricDescriptors(ListMetricDescriptorsRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListMetricDescriptors));
    public override Task<ListPodSandboxMetricsResponse> ListPodSandboxMetrics(ListPodSandboxMetricsRequest request, ServerCallContext context) => throw Unimplemented(nameof(ListPodSandboxMetrics));
    public override Task StreamPodSandboxMetrics(StreamPodSandboxMetricsRequest request, IServerStreamWriter<StreamPodSandboxMetricsResponse> responseStream, ServerCallContext context) => throw Unimplemented(nameof(StreamPodSandboxMetrics));
    public override Task<UpdatePodSandboxResourcesResponse> UpdatePodSandboxResources(UpdatePodSandboxResourcesRequest request, ServerCallContext context) => throw Unimplemented(nameof(UpdatePodSandboxResources));
}
