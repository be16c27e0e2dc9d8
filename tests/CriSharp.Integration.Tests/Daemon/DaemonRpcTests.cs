using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Daemon;

/// <summary>The RPCs the foundation serves, through a real daemon on its socket.</summary>
public sealed class DaemonRpcTests : IAsyncLifetime
{
    readonly DaemonProcess _daemon = new(loopbackNetwork: false);
    RuntimeService.RuntimeServiceClient _runtime = null!;
    ImageService.ImageServiceClient _images = null!;

    public async Task InitializeAsync()
    {
        await _daemon.StartServingAsync();
        var channel = _daemon.Channel();
        _runtime = new RuntimeService.RuntimeServiceClient(channel);
        _images = new ImageService.ImageServiceClient(channel);
    }

    public Task DisposeAsync()
    {
        _daemon.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Version_names_crisharp_and_api_v1()
    {
        var v = await _runtime.VersionAsync(new VersionRequest { Version = "v1" });
        Assert.Equal("crisharp", v.RuntimeName);
        Assert.Equal("v1", v.RuntimeApiVersion);
        Assert.Equal("0.1.0", v.Version);
        Assert.Matches(@"^\d+\.\d+\.\d+", v.RuntimeVersion);
    }

    [Fact]
    public async Task Status_reports_runtime_ready_and_network_readiness_follows_the_conf_dir()
    {
        var s = await _runtime.StatusAsync(new StatusRequest());
        var runtime = s.Status.Conditions.Single(c => c.Type == "RuntimeReady");
        Assert.True(runtime.Status, $"RuntimeReady false: {runtime.Reason} {runtime.Message}");
        var network = s.Status.Conditions.Single(c => c.Type == "NetworkReady");
        Assert.False(network.Status);
        Assert.Equal("NetworkPluginNotReady", network.Reason);
        Assert.Contains(_daemon.CniConfDir, network.Message);

        File.WriteAllText(Path.Combine(_daemon.CniConfDir, "10-test.conflist"),
            """{"cniVersion":"1.0.0","name":"t","plugins":[{"type":"bridge","bridge":"cs-unused0"},{"type":"loopback"}]}""");
        s = await _runtime.StatusAsync(new StatusRequest());
        Assert.True(s.Status.Conditions.Single(c => c.Type == "NetworkReady").Status);
    }

    [Fact]
    public async Task Status_verbose_carries_the_effective_config_as_json()
    {
        var s = await _runtime.StatusAsync(new StatusRequest { Verbose = true });
        using var doc = System.Text.Json.JsonDocument.Parse(s.Info["config"]);
        Assert.Equal(_daemon.Socket, doc.RootElement.GetProperty("listen").GetString());
        Assert.Equal("/usr/sbin/runc", doc.RootElement.GetProperty("runtimes").GetProperty("runc").GetProperty("path").GetString());
        Assert.Empty((await _runtime.StatusAsync(new StatusRequest())).Info);
    }

    [Fact]
    public async Task RuntimeConfig_reports_the_configured_cgroup_driver()
    {
        var r = await _runtime.RuntimeConfigAsync(new RuntimeConfigRequest());
        Assert.Equal(CgroupDriver.Cgroupfs, r.Linux.CgroupDriver);
    }

    [Fact]
    public async Task UpdateRuntimeConfig_stores_the_pod_cidr_and_rejects_garbage_naming_the_field()
    {
        await _runtime.UpdateRuntimeConfigAsync(new UpdateRuntimeConfigRequest
        {
            RuntimeConfig = new RuntimeConfig { NetworkConfig = new NetworkConfig { PodCidr = "10.244.1.0/24" } },
        });
        var s = await _runtime.StatusAsync(new StatusRequest { Verbose = true });
        Assert.Contains("10.244.1.0/24", s.Info["podCIDRs"]);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.UpdateRuntimeConfigAsync(new UpdateRuntimeConfigRequest
        {
            RuntimeConfig = new RuntimeConfig { NetworkConfig = new NetworkConfig { PodCidr = "10.244.1.0/33" } },
        }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("pod_cidr", e.Status.Detail);
    }

    [Fact]
    public async Task Rpcs_not_supported_answer_unimplemented_naming_themselves()
    {
        // Stats are built (issue 7): an unknown container is NotFound, not Unimplemented.
        var e = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = "x" }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Contains("container x not found", e.Status.Detail);
        var c = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.CheckpointContainerAsync(new CheckpointContainerRequest { ContainerId = "x" }));
        Assert.Equal(StatusCode.Unimplemented, c.StatusCode);
        Assert.Contains("CheckpointContainer", c.Status.Detail);
    }

    [Fact]
    public async Task Every_call_is_logged_at_debug_with_method_id_duration_and_code_and_caller_errors_at_warning()
    {
        await _runtime.VersionAsync(new VersionRequest());
        await Assert.ThrowsAsync<RpcException>(async () => await _images.RemoveImageAsync(new RemoveImageRequest()));
        await Task.Delay(200); // stderr is read asynchronously
        Assert.Matches(@"DBG CRI /runtime\.v1\.RuntimeService/Version call \d+ OK in [\d.]+ ms", _daemon.Stderr);
        Assert.Matches(@"WRN CRI /runtime\.v1\.ImageService/RemoveImage call \d+ InvalidArgument in [\d.]+ ms: image\.image is required", _daemon.Stderr);
    }

    [Fact]
    public void The_socket_is_mode_0660()
    {
        var mode = File.GetUnixFileMode(_daemon.Socket);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, mode);
    }
}
