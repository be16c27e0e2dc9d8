using CriSharp.Configuration;
using CriSharp.Images;
using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.Registry;
using CriSharp.Mechanism.Cdi;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Cgroups.V2;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Model;
using CriSharp.Runtime.Containers;
using CriSharp.Runtime.Tests.Fakes;
using CriSharp.State;
using Serilog.Core;

namespace CriSharp.Runtime.Tests.Containers;

/// <summary>
/// A real ContainerManager over temp dirs, with the OCI runtime and conmon faked at their seams and the real exit
/// watcher reading the exit files the fake monitor writes. Cgroups are a v2 layout in a temp dir.
/// </summary>
sealed class LifecycleHarness : IDisposable
{
    public const string Handler = "fake";
    readonly string _dir = Directory.CreateTempSubdirectory("crisharp-lifecycle-").FullName;

    public FakeOciRuntime Runtime { get; } = new(Handler);
    public FakeMonitor Monitor { get; }
    public ExitWatcher Exits { get; }
    public RecordIndex<ContainerRecord> Records { get; }
    public RecordIndex<PodSandbox> Sandboxes { get; }
    public ContainerManager Containers { get; }
    readonly RegistryClient _registry;

    public LifecycleHarness(TimeSpan? killGrace = null)
    {
        var root = Path.Combine(_dir, "root");
        var state = Path.Combine(_dir, "state");
        var config = new LiveConfig(new DaemonConfig { Root = root, StateDir = state }, new ConfigSources());
        Monitor = new FakeMonitor(state);
        Exits = new ExitWatcher(Monitor.ExitDir, log: Logger.None);
        Records = RuntimeRecords.Containers(root);
        Sandboxes = RuntimeRecords.Sandboxes(root);
        Records.Load((_, _, _) => { });
        Sandboxes.Load((_, _, _) => { });
        var content = new ContentStore(root);
        var layers = new LayerStore(root);
        var images = new ImageStore(root, content, layers, Logger.None);
        _registry = new RegistryClient(config, Logger.None);
        var puller = new ImagePuller(config, _registry, content, layers, images, Logger.None);
        var cgroups = new CgroupfsV2Manager(Directory.CreateDirectory(Path.Combine(_dir, "cgroup")).FullName);
        Containers = new ContainerManager(config, Records, Sandboxes, images, puller, layers, cgroups,
            new FakeOciRuntimes(Runtime), Monitor, Exits, new NamespacePinner(), new CdiRegistry(() => []), Logger.None)
        {
            KillGrace = killGrace ?? TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>A container record as a successful create and start leave it, with its bundle dir.</summary>
    public ContainerRecord Add(string id, ContainerState state, int stopSignal = 15)
    {
        var bundle = Directory.CreateDirectory(Path.Combine(Containers.ContainersStateDir, id)).FullName;
        var record = new ContainerRecord
        {
            Id = id,
            SandboxId = "pod-" + id,
            Spec = new ContainerSpec { Name = "c-" + id, Image = "busybox" },
            ImageId = "sha256:" + new string('a', 64),
            State = state,
            CreatedAt = 1_000,
            StartedAt = state == ContainerState.Created ? 0 : 2_000,
            RuntimeHandler = Handler,
            BundleDir = bundle,
            LayerDir = Path.Combine(Containers.ContainersLayerDir, id),
            CgroupPath = "/crisharp/" + id,
            StopSignal = stopSignal,
        };
        Records.Put(record);
        if (state == ContainerState.Running) Runtime.States[id] = new("running", 4242, bundle);
        return record;
    }

    /// <summary>The record once <paramref name="done"/> holds, polled for up to 10 s (the exit watcher is asynchronous).</summary>
    public async Task<ContainerRecord> WaitForAsync(string id, Func<ContainerRecord, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var r = Records.Get(id) ?? throw new InvalidOperationException($"record {id} is gone");
            if (done(r)) return r;
            if (DateTime.UtcNow > deadline) return r;
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
        Exits.Dispose();
        _registry.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
