using CriSharp.Configuration;
using CriSharp.Mechanism.Cgroups.V2;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;
using CriSharp.Runtime.Pods;
using CriSharp.Runtime.Tests.Fakes;
using CriSharp.State;
using Serilog.Core;

namespace CriSharp.Runtime.Tests.Pods;

/// <summary>StopPodSandbox and recovery of pod records through the seams: fake runtime, monitor, network and containers.</summary>
public sealed class PodLifecycleTests : IDisposable
{
    const string Handler = "fake";
    readonly string _dir = Directory.CreateTempSubdirectory("crisharp-pods-").FullName;
    readonly FakeOciRuntime _runtime = new(Handler);
    readonly FakePodNetwork _network = new();
    readonly FakePodContainers _containers = new();
    readonly RecordIndex<PodSandbox> _records;
    readonly PodManager _pods;
    readonly HandlerFeatureProbe _probe;

    public PodLifecycleTests()
    {
        var root = Path.Combine(_dir, "root");
        var state = Path.Combine(_dir, "state");
        var config = new LiveConfig(new DaemonConfig { Root = root, StateDir = state }, new ConfigSources());
        _records = RuntimeRecords.Sandboxes(root);
        _records.Load((_, _, _) => { });
        var pinner = new NamespacePinner();
        _probe = new HandlerFeatureProbe(config, pinner, Logger.None);
        var cgroups = new CgroupfsV2Manager(Directory.CreateDirectory(Path.Combine(_dir, "cgroup")).FullName);
        var infra = new InfraProcess(new FakeOciRuntimes(_runtime), new FakeMonitor(state));
        _pods = new PodManager(config, _records, pinner, cgroups, _network, infra, _probe, _containers, Logger.None);
    }

    public void Dispose()
    {
        _probe.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    PodSandbox Add(string id, SandboxState state = SandboxState.Ready, bool hostNetwork = false, string netns = "")
    {
        var dir = Directory.CreateDirectory(Path.Combine(_pods.PodsDir, id)).FullName;
        var pod = new PodSandbox
        {
            Id = id,
            Spec = new SandboxSpec
            {
                Name = "p-" + id, Uid = "uid-" + id, Namespace = "default",
                Security = new SandboxSecuritySpec
                {
                    Namespaces = new NamespaceModes { Network = hostNetwork ? NamespaceMode.Node : NamespaceMode.Pod },
                },
            },
            State = state,
            RuntimeHandler = Handler,
            Dir = dir,
            NetNsPath = netns,
            InfraContainerId = "infra-" + id,
        };
        _records.Put(pod);
        return pod;
    }

    [Fact]
    public async Task Stop_marks_the_pod_not_ready_stops_its_containers_tears_down_its_network_and_kills_its_infra()
    {
        Add("p1");

        await _pods.StopAsync("p1", CancellationToken.None);

        Assert.Equal(SandboxState.NotReady, _records.Get("p1")!.State);
        Assert.Equal([("p1", false)], _containers.Calls);
        Assert.Equal(["p1"], _network.TearDowns);
        Assert.Equal([("infra-p1", 9, true)], _runtime.Kills);
        Assert.Equal(["infra-p1"], _runtime.Deletes);
    }

    [Fact]
    public async Task Stop_is_idempotent_and_a_pod_nobody_knows_stops_without_error()
    {
        Add("p2");

        await _pods.StopAsync("p2", CancellationToken.None);
        await _pods.StopAsync("p2", CancellationToken.None);
        await _pods.StopAsync("never-made", CancellationToken.None);

        Assert.Equal(SandboxState.NotReady, _records.Get("p2")!.State);
        Assert.Null(_records.Get("never-made"));
    }

    [Fact]
    public async Task Stop_of_a_host_network_pod_leaves_the_network_alone()
    {
        Add("p3", hostNetwork: true);

        await _pods.StopAsync("p3", CancellationToken.None);

        Assert.Empty(_network.TearDowns);
        Assert.Equal(SandboxState.NotReady, _records.Get("p3")!.State);
    }

    [Fact]
    public async Task A_failing_network_teardown_does_not_keep_the_pod_from_stopping()
    {
        Add("p4");
        _network.FailTearDown = true;

        await _pods.StopAsync("p4", CancellationToken.None);

        Assert.Equal(SandboxState.NotReady, _records.Get("p4")!.State);
        Assert.Equal(["infra-p4"], _runtime.Deletes);
    }

    [Fact]
    public async Task Recovery_marks_a_ready_pod_whose_network_namespace_is_gone_not_ready()
    {
        var netns = Path.Combine(_dir, "netns-file-not-a-mount");
        File.WriteAllText(netns, "");
        Add("lost", netns: netns);

        await _pods.RecoverAsync();

        Assert.Equal(SandboxState.NotReady, _records.Get("lost")!.State);
    }

    [Fact]
    public async Task Recovery_keeps_a_ready_host_network_pod_ready_and_a_not_ready_pod_not_ready()
    {
        Add("host", hostNetwork: true);
        Add("stopped", SandboxState.NotReady);

        await _pods.RecoverAsync();

        Assert.Equal(SandboxState.Ready, _records.Get("host")!.State);
        Assert.Equal(SandboxState.NotReady, _records.Get("stopped")!.State);
    }

    [Fact]
    public async Task Recovery_deletes_the_infra_of_a_half_made_pod_and_removes_its_dir()
    {
        var leftover = Directory.CreateDirectory(Path.Combine(_pods.PodsDir, "half", "infra")).Parent!.FullName;

        await _pods.RecoverAsync();

        Assert.Contains("infra-half", _runtime.Deletes);
        Assert.False(Directory.Exists(leftover), "the half-made pod's dir is still there");
    }
}
