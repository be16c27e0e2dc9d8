using System.Diagnostics;
using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Network;

/// <summary>
/// A plugin chained after the real bridge fails, hangs or prints garbage: RunPodSandbox fails with a
/// clear message and the bridge's veth and address are released again.
/// </summary>
public sealed class FailingPluginTests : IAsyncLifetime
{
    readonly NetworkTestBed _bed = new("csnet-d0", 4, writeConflist: false);
    string FakeBin => Path.Combine(_bed.Daemon.Dir, "fakebin");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(FakeBin);
        Directory.CreateDirectory(_bed.Daemon.DropInDir);
        File.WriteAllText(Path.Combine(_bed.Daemon.DropInDir, "50-plugins.toml"), $"""
            [network]
            plugin_dirs = ["{FakeBin}", "/usr/lib/cni"]
            plugin_timeout_seconds = 2
            """);
        Plugin("cs-fail", """ADD) echo '{"cniVersion":"1.0.0","code":7,"msg":"cs-fail refuses","details":"by design"}'; exit 1 ;;""");
        Plugin("cs-hang", "ADD) exec sleep 3001 ;;");
        Plugin("cs-garbage", "ADD) echo '}{ this is no CNI result' ;;");
        return _bed.StartAsync();
    }

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    void Plugin(string name, string addCase)
    {
        var path = Path.Combine(FakeBin, name);
        File.WriteAllText(path, $"""
            #!/bin/sh
            cat >/dev/null
            case "$CNI_COMMAND" in
            {addCase}
            *) ;;
            esac
            """);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    async Task<RpcException> FailingRunAsync(string plugin)
    {
        _bed.WriteConflist($$"""{"type":"{{plugin}}"}""");
        var ready = (await _bed.Runtime.StatusAsync(new StatusRequest())).Status.Conditions.Single(c => c.Type == "NetworkReady");
        Assert.True(ready.Status, ready.Message);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = _bed.PodConfig(plugin) }));
        Assert.Empty((await _bed.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        await _bed.AssertNothingLeftAsync();
        return e;
    }

    [Fact]
    public async Task A_plugin_error_is_the_grpc_error_and_nothing_leaks()
    {
        var e = await FailingRunAsync("cs-fail");
        Assert.Equal(StatusCode.Internal, e.StatusCode);
        Assert.Contains("CNI plugin cs-fail failed (ADD): cs-fail refuses: by design (CNI error code 7)", e.Status.Detail);
    }

    [Fact]
    public async Task A_hanging_plugin_times_out_is_killed_and_nothing_leaks()
    {
        var sw = Stopwatch.StartNew();
        var e = await FailingRunAsync("cs-hang");
        Assert.Contains("CNI plugin cs-hang (ADD) timed out after 2s and was killed", e.Status.Detail);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
        Assert.NotEqual(0, NetworkTestBed.Run("pgrep", ["-f", "sleep 3001"], check: false).Code);
    }

    [Fact]
    public async Task A_plugin_printing_garbage_fails_clearly_and_nothing_leaks()
    {
        var e = await FailingRunAsync("cs-garbage");
        Assert.Contains("CNI plugin cs-garbage (ADD) returned an invalid result", e.Status.Detail);
        Assert.Contains("}{ this is no CNI result", e.Status.Detail);
    }
}
