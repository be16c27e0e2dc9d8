using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Network;

/// <summary>NetworkReady follows the conf dir without a restart, and pods need a ready network.</summary>
public sealed class NetworkReadinessTests : IAsyncLifetime
{
    readonly NetworkTestBed _bed = new("csnet-b0", 2, writeConflist: false);

    public Task InitializeAsync() => _bed.StartAsync();
    public async Task DisposeAsync() => await _bed.DisposeAsync();

    async Task<RuntimeCondition> NetworkReady() =>
        (await _bed.Runtime.StatusAsync(new StatusRequest())).Status.Conditions.Single(c => c.Type == "NetworkReady");

    [Fact]
    public async Task Network_ready_flips_when_a_conflist_appears_and_pods_wait_for_it()
    {
        var before = await NetworkReady();
        Assert.False(before.Status);
        Assert.Equal("NetworkPluginNotReady", before.Reason);
        Assert.Contains(_bed.Daemon.CniConfDir, before.Message);

        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = _bed.PodConfig("early") }));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("NetworkPluginNotReady", e.Status.Detail);
        Assert.Contains("no CNI configuration file in " + _bed.Daemon.CniConfDir, e.Status.Detail);
        Assert.Empty((await _bed.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        Assert.Empty(_bed.PodMounts());

        // Host-network pods do not need CNI.
        var host = (await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = _bed.PodConfig("host", hostNetwork: true) })).PodSandboxId;
        Assert.Equal("", await _bed.PodIpAsync(host));

        // A config naming a plugin that is not installed is not usable either.
        File.WriteAllText(Path.Combine(_bed.Daemon.CniConfDir, "05-missing.conflist"),
            """{"cniVersion":"1.0.0","name":"missing","plugins":[{"type":"no-such-plugin"}]}""");
        var missing = await NetworkReady();
        Assert.False(missing.Status);
        Assert.Contains("no-such-plugin", missing.Message);

        _bed.WriteConflist();
        var after = await NetworkReady();
        Assert.True(after.Status, after.Message);
        var pod = (await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = _bed.PodConfig("late") })).PodSandboxId;
        Assert.StartsWith(_bed.SubnetPrefix + ".", await _bed.PodIpAsync(pod));

        // The network config vanishes: NetworkReady drops, but the pod still tears down with the cached config.
        File.Delete(Path.Combine(_bed.Daemon.CniConfDir, "10-test.conflist"));
        Assert.False((await NetworkReady()).Status);
        await _bed.RemoveAllPodsAsync();
        await _bed.AssertNothingLeftAsync();
    }
}
