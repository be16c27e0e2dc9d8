using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Streaming;

/// <summary>Exec, Attach and PortForward through the daemon's socket: what is validated before any URL is issued.</summary>
public sealed class StreamingRpcTests : IAsyncLifetime
{
    readonly DaemonProcess _daemon = new(loopbackNetwork: false);
    RuntimeService.RuntimeServiceClient _runtime = null!;

    public async Task InitializeAsync()
    {
        await _daemon.StartServingAsync();
        _runtime = new RuntimeService.RuntimeServiceClient(_daemon.Channel());
    }

    public Task DisposeAsync()
    {
        _daemon.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Unknown_containers_and_pods_are_not_found()
    {
        var exec = await Assert.ThrowsAsync<RpcException>(async () =>
            await _runtime.ExecAsync(new ExecRequest { ContainerId = "nope", Cmd = { "ls" }, Stdout = true }));
        Assert.Equal(StatusCode.NotFound, exec.StatusCode);
        Assert.Contains("container nope not found", exec.Status.Detail);

        var attach = await Assert.ThrowsAsync<RpcException>(async () =>
            await _runtime.AttachAsync(new AttachRequest { ContainerId = "nope", Stdout = true }));
        Assert.Equal(StatusCode.NotFound, attach.StatusCode);

        var forward = await Assert.ThrowsAsync<RpcException>(async () =>
            await _runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = "nope", Port = { 80 } }));
        Assert.Equal(StatusCode.NotFound, forward.StatusCode);
        Assert.Contains("pod sandbox nope not found", forward.Status.Detail);

        var missing = await Assert.ThrowsAsync<RpcException>(async () => await _runtime.ExecAsync(new ExecRequest { Cmd = { "ls" } }));
        Assert.Equal(StatusCode.InvalidArgument, missing.StatusCode);
        Assert.Contains("container_id", missing.Status.Detail);
    }

    [Fact]
    public async Task The_daemon_logs_where_its_streaming_server_listens()
    {
        await _runtime.VersionAsync(new VersionRequest());
        await Task.Delay(200); // stderr is read asynchronously
        Assert.Matches(@"streaming server listening on http://127\.0\.0\.1:\d+/", _daemon.Stderr);
    }
}
