using CriSharp.Api.V1;
using Google.Protobuf.Reflection;
using Xunit;

namespace CriSharp.Cri.Tests;

/// <summary>
/// Pins the CRI v1 wire contract (kubernetes/cri-api v0.36.x) as compiled from
/// protos/runtime/v1/api.proto: every RPC with its request/response types and
/// streaming flags, plus the field numbers and types that the kubelet relies on.
/// A failure here means the proto drifted from upstream, not that a handler broke.
/// </summary>
public sealed class ApiContractTests
{
    private const string Pkg = "runtime.v1.";

    private static FileDescriptor File => ApiReflection.Descriptor;

    private static ServiceDescriptor Service(string name) =>
        File.Services.Single(s => s.Name == name);

    private static MessageDescriptor Message(string name) =>
        File.MessageTypes.SingleOrDefault(m => m.Name == name)
        ?? throw new Xunit.Sdk.XunitException($"message {name} missing");

    private static EnumDescriptor Enum(string name) =>
        File.EnumTypes.SingleOrDefault(e => e.Name == name)
        ?? throw new Xunit.Sdk.XunitException($"enum {name} missing");

    // (rpc, request, response, client streaming, server streaming) in upstream declaration order.
    private static readonly (string Rpc, string Request, string Response, bool ClientStream, bool ServerStream)[] RuntimeRpcs =
    [
        ("Version", "VersionRequest", "VersionResponse", false, false),
        ("RunPodSandbox", "RunPodSandboxRequest", "RunPodSandboxResponse", false, false),
        ("StopPodSandbox", "StopPodSandboxRequest", "StopPodSandboxResponse", false, false),
        ("RemovePodSandbox", "RemovePodSandboxRequest", "RemovePodSandboxResponse", false, false),
        ("PodSandboxStatus", "PodSandboxStatusRequest", "PodSandboxStatusResponse", false, false),
        ("ListPodSandbox", "ListPodSandboxRequest", "ListPodSandboxResponse", false, false),
        ("StreamPodSandboxes", "StreamPodSandboxesRequest", "StreamPodSandboxesResponse", false, true),
        ("CreateContainer", "CreateContainerRequest", "CreateContainerResponse", false, false),
        ("StartContainer", "StartContainerRequest", "StartContainerResponse", false, false),
        ("StopContainer", "StopContainerRequest", "StopContainerResponse", false, false),
        ("RemoveContainer", "RemoveContainerRequest", "RemoveContainerResponse", false, false),
        ("ListContainers", "ListContainersRequest", "ListContainersResponse", false, false),
        ("StreamContainers", "StreamContainersRequest", "StreamContainersResponse", false, true),
        ("ContainerStatus", "ContainerStatusRequest", "ContainerStatusResponse", false, false),
        ("UpdateContainerResources", "UpdateContainerResourcesRequest", "UpdateContainerResourcesResponse", false, false),
        ("ReopenContainerLog", "ReopenContainerLogRequest", "ReopenContainerLogResponse", false, false),
        ("ExecSync", "ExecSyncRequest", "ExecSyncResponse", false, false),
        ("Exec", "ExecRequest", "ExecResponse", false, false),
        ("Attach", "AttachRequest", "AttachResponse", false, false),
        ("PortForward", "PortForwardRequest", "PortForwardResponse", false, false),
        ("ContainerStats", "ContainerStatsRequest", "ContainerStatsResponse", false, false),
        ("ListContainerStats", "ListContainerStatsRequest", "ListContainerStatsResponse", false, false),
        ("StreamContainerStats", "StreamContainerStatsRequest", "StreamContainerStatsResponse", false, true),
        ("PodSandboxStats", "PodSandboxStatsRequest", "PodSandboxStatsResponse", false, false),
        ("ListPodSandboxStats", "ListPodSandboxStatsRequest", "ListPodSandboxStatsResponse", false, false),
        ("StreamPodSandboxStats", "StreamPodSandboxStatsRequest", "StreamPodSandboxStatsResponse", false, true),
        ("UpdateRuntimeConfig", "UpdateRuntimeConfigRequest", "UpdateRuntimeConfigResponse", false, false),
        ("Status", "StatusRequest", "StatusResponse", false, false),
        ("CheckpointContainer", "CheckpointContainerRequest", "CheckpointContainerResponse", false, false),
        ("GetContainerEvents", "GetEventsRequest", "ContainerEventResponse", false, true),
        ("ListMetricDescriptors", "ListMetricDescriptorsRequest", "ListMetricDescriptorsResponse", false, false),
        ("ListPodSandboxMetrics", "ListPodSandboxMetricsRequest", "ListPodSandboxMetricsResponse", false, false),
        ("StreamPodSandboxMetrics", "StreamPodSandboxMetricsRequest", "StreamPodSandboxMetricsResponse", false, true),
        ("RuntimeConfig", "RuntimeConfigRequest", "RuntimeConfigResponse", false, false),
        ("UpdatePodSandboxResources", "UpdatePodSandboxResourcesRequest", "UpdatePodSandboxResourcesResponse", false, false),
    ];

    private static readonly (string Rpc, string Request, string Response, bool ClientStream, bool ServerStream)[] ImageRpcs =
    [
        ("ListImages", "ListImagesRequest", "ListImagesResponse", false, false),
        ("StreamImages", "StreamImagesRequest", "StreamImagesResponse", false, true),
        ("ImageStatus", "ImageStatusRequest", "ImageStatusResponse", false, false),
        ("PullImage", "PullImageRequest", "PullImageResponse", false, false),
        ("RemoveImage", "RemoveImageRequest", "RemoveImageResponse", false, false),
        ("ImageFsInfo", "ImageFsInfoRequest", "ImageFsInfoResponse", false, false),
    ];

    [Fact]
    public void File_IsPackageRuntimeV1_WithExactlyTwoServices()
    {
        Assert.Equal("runtime.v1", File.Package);
        Assert.Equal(["RuntimeService", "ImageService"], File.Services.Select(s => s.Name));
        Assert.Equal("runtime.v1.RuntimeService", Service("RuntimeService").FullName);
        Assert.Equal("runtime.v1.ImageService", Service("ImageService").FullName);
    }

    [Fact]
    public void RuntimeService_HasExactly35ExpectedRpcs()
    {
        Assert.Equal(35, RuntimeRpcs.Length);
        AssertServiceMatches(Service("RuntimeService"), RuntimeRpcs);
    }

    [Fact]
    public void ImageService_HasExactly6ExpectedRpcs()
    {
        Assert.Equal(6, ImageRpcs.Length);
        AssertServiceMatches(Service("ImageService"), ImageRpcs);
    }

    private static void AssertServiceMatches(
        ServiceDescriptor service,
        (string Rpc, string Request, string Response, bool ClientStream, bool ServerStream)[] expected)
    {
        Assert.Equal(expected.Select(e => e.Rpc), service.Methods.Select(m => m.Name));
        foreach (var e in expected)
        {
            var m = service.FindMethodByName(e.Rpc);
            Assert.NotNull(m);
            Assert.Equal(Pkg + e.Request, m.InputType.FullName);
            Assert.Equal(Pkg + e.Response, m.OutputType.FullName);
            Assert.Equal(e.ClientStream, m.IsClientStreaming);
            Assert.Equal(e.ServerStream, m.IsServerStreaming);
        }
    }

    // (message, field, number, type, repeated). Maps are checked separately.
    public static TheoryData<string, string, int, FieldType, bool> CriticalFields => new()
    {
        { "PodSandboxConfig", "metadata", 1, FieldType.Message, false },
        { "PodSandboxConfig", "hostname", 2, FieldType.String, false },
        { "PodSandboxConfig", "log_directory", 3, FieldType.String, false },
        { "PodSandboxConfig", "dns_config", 4, FieldType.Message, false },
        { "PodSandboxConfig", "port_mappings", 5, FieldType.Message, true },
        { "PodSandboxConfig", "linux", 8, FieldType.Message, false },
        { "PodSandboxConfig", "windows", 9, FieldType.Message, false },
        { "RunPodSandboxRequest", "runtime_handler", 2, FieldType.String, false },
        { "ContainerConfig", "metadata", 1, FieldType.Message, false },
        { "ContainerConfig", "envs", 6, FieldType.Message, true },
        { "ContainerConfig", "mounts", 7, FieldType.Message, true },
        { "ContainerConfig", "log_path", 11, FieldType.String, false },
        { "ContainerConfig", "tty", 14, FieldType.Bool, false },
        { "ContainerConfig", "linux", 15, FieldType.Message, false },
        { "ContainerConfig", "windows", 16, FieldType.Message, false },
        { "ContainerConfig", "CDI_devices", 17, FieldType.Message, true },
        { "ContainerConfig", "stop_signal", 18, FieldType.Enum, false },
        { "KeyValue", "key", 1, FieldType.String, false },
        { "KeyValue", "value", 2, FieldType.String, false },
        { "LinuxContainerSecurityContext", "capabilities", 1, FieldType.Message, false },
        { "LinuxContainerSecurityContext", "privileged", 2, FieldType.Bool, false },
        { "LinuxContainerSecurityContext", "namespace_options", 3, FieldType.Message, false },
        { "LinuxContainerSecurityContext", "selinux_options", 4, FieldType.Message, false },
        { "LinuxContainerSecurityContext", "run_as_user", 5, FieldType.Message, false },
        { "LinuxContainerSecurityContext", "run_as_username", 6, FieldType.String, false },
        { "LinuxContainerSecurityContext", "readonly_rootfs", 7, FieldType.Bool, false },
        { "LinuxContainerSecurityContext", "supplemental_groups", 8, FieldType.Int64, true },
        { "LinuxContainerSecurityContext", "apparmor_profile", 9, FieldType.String, false },
        { "LinuxContainerSecurityContext", "seccomp_profile_path", 10, FieldType.String, false },
        { "LinuxContainerSecurityContext", "no_new_privs", 11, FieldType.Bool, false },
        { "LinuxContainerSecurityContext", "run_as_group", 12, FieldType.Message, false },
        { "LinuxContainerSecurityContext", "masked_paths", 13, FieldType.String, true },
        { "LinuxContainerSecurityContext", "readonly_paths", 14, FieldType.String, true },
        { "LinuxContainerSecurityContext", "seccomp", 15, FieldType.Message, false },
        { "LinuxContainerSecurityContext", "apparmor", 16, FieldType.Message, false },
        { "LinuxContainerSecurityContext", "supplemental_groups_policy", 17, FieldType.Enum, false },
        { "LinuxSandboxSecurityContext", "run_as_group", 8, FieldType.Message, false },
        { "LinuxSandboxSecurityContext", "supplemental_groups_policy", 11, FieldType.Enum, false },
        { "LinuxContainerResources", "memory_swap_limit_in_bytes", 10, FieldType.Int64, false },
        { "Mount", "uidMappings", 6, FieldType.Message, true },
        { "Mount", "image", 9, FieldType.Message, false },
        { "Mount", "image_sub_path", 10, FieldType.String, false },
        { "ImageSpec", "user_specified_image", 18, FieldType.String, false },
        { "ImageSpec", "runtime_handler", 19, FieldType.String, false },
        { "ImageSpec", "image_ref", 20, FieldType.String, false },
        { "ContainerStatus", "image_id", 17, FieldType.String, false },
        { "ContainerStatus", "user", 18, FieldType.Message, false },
        { "ContainerStatus", "stop_signal", 19, FieldType.Enum, false },
        { "RuntimeCondition", "type", 1, FieldType.String, false },
        { "RuntimeCondition", "status", 2, FieldType.Bool, false },
        { "RuntimeCondition", "reason", 3, FieldType.String, false },
        { "RuntimeCondition", "message", 4, FieldType.String, false },
        { "RuntimeStatus", "conditions", 1, FieldType.Message, true },
        { "StatusResponse", "runtime_handlers", 3, FieldType.Message, true },
        { "StatusResponse", "features", 4, FieldType.Message, false },
        { "RuntimeFeatures", "user_namespaces_host_network", 2, FieldType.Bool, false },
        { "ExecSyncResponse", "stdout", 1, FieldType.Bytes, false },
        { "ExecSyncResponse", "exit_code", 3, FieldType.Int32, false },
        { "PsiStats", "Full", 1, FieldType.Message, false },
        { "PsiData", "Avg300", 4, FieldType.Double, false },
        { "StreamPodSandboxesResponse", "pod_sandboxes", 1, FieldType.Message, true },
        { "StreamContainerStatsResponse", "container_stats", 1, FieldType.Message, true },
        { "StreamPodSandboxStatsResponse", "pod_sandbox_stats", 1, FieldType.Message, true },
        { "StreamPodSandboxMetricsResponse", "pod_sandbox_metrics", 1, FieldType.Message, true },
        { "LinuxRuntimeConfiguration", "cgroup_driver", 1, FieldType.Enum, false },
    };

    [Theory]
    [MemberData(nameof(CriticalFields))]
    public void Field_HasUpstreamNumberAndType(string message, string field, int number, FieldType type, bool repeated)
    {
        var f = Message(message).FindFieldByName(field);
        Assert.NotNull(f);
        Assert.Equal(number, f.FieldNumber);
        Assert.Equal(type, f.FieldType);
        Assert.Equal(repeated, f.IsRepeated);
        Assert.False(f.IsMap);
    }

    [Theory]
    [InlineData("PodSandboxConfig", "labels", 6)]
    [InlineData("PodSandboxConfig", "annotations", 7)]
    [InlineData("LinuxPodSandboxConfig", "sysctls", 3)]
    [InlineData("ContainerConfig", "labels", 9)]
    [InlineData("ContainerConfig", "annotations", 10)]
    [InlineData("LinuxContainerResources", "unified", 9)]
    [InlineData("StatusResponse", "info", 2)]
    public void MapField_IsStringToString(string message, string field, int number)
    {
        var f = Message(message).FindFieldByName(field);
        Assert.NotNull(f);
        Assert.True(f.IsMap);
        Assert.Equal(number, f.FieldNumber);
        var entry = f.MessageType;
        Assert.Equal(FieldType.String, entry.FindFieldByNumber(1).FieldType);
        Assert.Equal(FieldType.String, entry.FindFieldByNumber(2).FieldType);
    }

    [Fact]
    public void ExecAndAttachRequests_HaveNoPost136Fields()
    {
        // audit_request_id (KEP-6035) landed after v0.36; a v0.36 contract must not carry it.
        Assert.Equal(Enumerable.Range(1, 6), Message("ExecRequest").Fields.InFieldNumberOrder().Select(f => f.FieldNumber));
        Assert.Equal(Enumerable.Range(1, 5), Message("AttachRequest").Fields.InFieldNumberOrder().Select(f => f.FieldNumber));
        Assert.Equal(Enumerable.Range(1, 10), Message("Mount").Fields.InFieldNumberOrder().Select(f => f.FieldNumber));
    }

    [Fact]
    public void Enums_HaveUpstreamValues()
    {
        AssertEnum("ContainerState", ("CONTAINER_CREATED", 0), ("CONTAINER_RUNNING", 1), ("CONTAINER_EXITED", 2), ("CONTAINER_UNKNOWN", 3));
        AssertEnum("PodSandboxState", ("SANDBOX_READY", 0), ("SANDBOX_NOTREADY", 1));
        AssertEnum("NamespaceMode", ("POD", 0), ("CONTAINER", 1), ("NODE", 2), ("TARGET", 3));
        AssertEnum("Protocol", ("TCP", 0), ("UDP", 1), ("SCTP", 2));
        AssertEnum("MountPropagation", ("PROPAGATION_PRIVATE", 0), ("PROPAGATION_HOST_TO_CONTAINER", 1), ("PROPAGATION_BIDIRECTIONAL", 2));
        AssertEnum("SupplementalGroupsPolicy", ("Merge", 0), ("Strict", 1));
        AssertEnum("ContainerEventType", ("CONTAINER_CREATED_EVENT", 0), ("CONTAINER_STARTED_EVENT", 1), ("CONTAINER_STOPPED_EVENT", 2), ("CONTAINER_DELETED_EVENT", 3));
        AssertEnum("MetricType", ("COUNTER", 0), ("GAUGE", 1));
        AssertEnum("CgroupDriver", ("SYSTEMD", 0), ("CGROUPFS", 1));

        var profile = Message("SecurityProfile").NestedTypes.Count == 0
            ? Message("SecurityProfile").EnumTypes.Single(e => e.Name == "ProfileType")
            : throw new Xunit.Sdk.XunitException("unexpected nested messages in SecurityProfile");
        Assert.Equal(["RuntimeDefault", "Unconfined", "Localhost"], profile.Values.Select(v => v.Name));
        Assert.Equal([0, 1, 2], profile.Values.Select(v => v.Number));

        var signal = Enum("Signal");
        Assert.Equal(66, signal.Values.Count);
        Assert.Equal(Enumerable.Range(0, 66), signal.Values.Select(v => v.Number));
        Assert.Equal(0, signal.FindValueByName("RUNTIME_DEFAULT").Number);
        Assert.Equal(13, signal.FindValueByName("SIGKILL").Number);
        Assert.Equal(23, signal.FindValueByName("SIGTERM").Number);
        Assert.Equal(35, signal.FindValueByName("SIGRTMIN").Number);
        Assert.Equal(65, signal.FindValueByName("SIGRTMAX").Number);
    }

    private static void AssertEnum(string name, params (string Name, int Number)[] values)
    {
        var e = Enum(name);
        Assert.Equal(values.Select(v => v.Name), e.Values.Select(v => v.Name));
        Assert.Equal(values.Select(v => v.Number), e.Values.Select(v => v.Number));
    }

    [Fact]
    public void File_HasUpstreamTypeCounts()
    {
        // 170 top-level messages (none nested); 10 top-level enums plus the nested SecurityProfile.ProfileType.
        Assert.Equal(170, File.MessageTypes.Count);
        Assert.Equal(10, File.EnumTypes.Count);
    }
}
