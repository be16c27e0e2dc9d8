using CriSharp.Api.V1;
using CriSharp.Linux;
using Grpc.Core;
using Xunit.Abstractions;

namespace CriSharp.Integration.Tests.Network;

/// <summary>Many pods created and removed in parallel, with and without a daemon crash: nothing of theirs stays.</summary>
public sealed class NetworkTeardownTests(ITestOutputHelper output) : IAsyncLifetime
{
    readonly NetworkTestBed _bed = new("csnet-c0", 3);

    public Task InitializeAsync() => _bed.StartAsync();
    public async Task DisposeAsync() => await _bed.DisposeAsync();

    async Task<string> RunPodAsync(string name)
    {
        var pod = (await _bed.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = _bed.PodConfig(name) })).PodSandboxId;
        Assert.StartsWith(_bed.SubnetPrefix + ".", await _bed.PodIpAsync(pod));
        return pod;
    }

    async Task RemovePodAsync(string pod)
    {
        await _bed.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        await _bed.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
    }

    [Fact]
    public async Task Fifty_pods_ten_at_a_time_leave_no_netns_veth_or_address()
    {
        for (var batch = 0; batch < 5; batch++)
        {
            var pods = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => RunPodAsync($"p{batch}-{i}")));
            Assert.Equal(10, pods.Distinct().Count());
            Assert.Equal(10, _bed.IpamReservations().Count);
            Assert.Equal(10, _bed.BridgePorts().Count);
            await Task.WhenAll(pods.Select(RemovePodAsync));
        }
        Assert.Empty((await _bed.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        await _bed.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task A_daemon_killed_mid_way_tears_everything_down_after_its_restart()
    {
        var created = 0;
        var failed = 0;
        using var stop = new CancellationTokenSource();
        async Task Worker(int w)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    await RunPodAsync($"k{w}-{i}");
                    Interlocked.Increment(ref created);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref failed); // the daemon died under the call
                    return;
                }
            }
        }
        var workers = Enumerable.Range(0, 10).Select(Worker).ToList();
        while (Volatile.Read(ref created) < 25) await Task.Delay(5);

        // Plugins the daemon started finish on their own after it dies: wait for them before the restart.
        var children = ChildrenOf(_bed.Daemon.Process!.Id);
        _bed.Daemon.Signal(ProcessControl.SIGKILL);
        Assert.NotNull(await _bed.Daemon.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        stop.Cancel();
        await Task.WhenAll(workers);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (children.Any(p => Directory.Exists($"/proc/{p}")) && DateTime.UtcNow < deadline) await Task.Delay(50);
        output.WriteLine($"created {created} pods before the kill; {failed} calls cut; {children.Count} children in flight; " +
                         $"{_bed.IpamReservations().Count} addresses reserved");

        await _bed.ConnectAsync();
        var survivors = (await _bed.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items;
        Assert.True(survivors.Count >= 25, $"only {survivors.Count} pods survived the restart");
        foreach (var p in survivors)
            Assert.StartsWith(_bed.SubnetPrefix + ".", await _bed.PodIpAsync(p.Id)); // IPs still reported after the restart
        // Interrupted creates were released by recovery: exactly the surviving pods hold addresses.
        Assert.Equal(survivors.Count, _bed.IpamReservations().Count);

        foreach (var chunk in survivors.Chunk(10))
            await Task.WhenAll(chunk.Select(p => RemovePodAsync(p.Id)));
        await _bed.AssertNothingLeftAsync();
    }

    /// <summary>Direct children of a process (from /proc/PID/task/*/children).</summary>
    static List<int> ChildrenOf(int pid)
    {
        var list = new List<int>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                list.AddRange(File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
            }
            catch (IOException)
            {
                // The thread exited meanwhile.
            }
        }
        return list;
    }
}
