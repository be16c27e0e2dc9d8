using CriSharp.Configuration;
using CriSharp.Images;
using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.Registry;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;
using CriSharp.Network;
using CriSharp.Runtime;
using CriSharp.Runtime.Containers;
using CriSharp.Runtime.Events;
using CriSharp.Runtime.Exec;
using CriSharp.Runtime.Pods;
using CriSharp.Streaming;
using Microsoft.Extensions.DependencyInjection;
using CriSharp.State;

namespace CriSharp.Cri;

/// <summary>Registers the CRI façade and the engine services it calls.</summary>
public static class CriServices
{
    /// <summary>Kubelet's grpc client allows 16 MiB messages; accept the same.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    public static IServiceCollection AddCri(this IServiceCollection services, LiveConfig config, Serilog.ILogger logger)
    {
        if (config.Current.CgroupDriver == "systemd")
            throw new InvalidOperationException("cgroup_driver = \"systemd\" is not implemented yet; use \"cgroupfs\" (and kubelet --cgroup-driver=cgroupfs)");
        services.AddSingleton(config);
        services.AddSingleton(logger);
        services.AddSingleton<RuntimeReadinessProbe>();
        services.AddSingleton<HandlerFeatureProbe>();
        services.AddSingleton<NetworkReadinessProbe>();
        services.AddSingleton<PodCidrState>();
        AddImages(services, config, logger);
        AddMechanism(services, config, logger);
        AddLifecycle(services, config, logger);
        services.AddSingleton<CallLoggingInterceptor>();
        services.AddGrpc(o =>
        {
            o.Interceptors.Add<CallLoggingInterceptor>();
            o.MaxReceiveMessageSize = MaxMessageBytes;
            // ExecSync answers stay under 16 MiB (ExecSyncRunner.MaxOutputBytes for both streams together); other
            // large lists are still sent to a client that accepts more than kubelet's default.
            o.MaxSendMessageSize = 2 * MaxMessageBytes;
            o.EnableDetailedErrors = true;
        });
        return services;
    }

    /// <summary>The image engine: content, layers, image records, the registry client and the puller.</summary>
    static void AddImages(IServiceCollection services, LiveConfig config, Serilog.ILogger logger)
    {
        var root = config.Current.Root;
        services.AddSingleton(_ => new ContentStore(root));
        services.AddSingleton(_ => new LayerStore(root));
        services.AddSingleton<IImageUsers>(sp => new ContainerImageUsers(sp.GetRequiredService<State.RecordIndex<ContainerRecord>>()));
        services.AddSingleton(sp => new ImageStore(root, sp.GetRequiredService<ContentStore>(), sp.GetRequiredService<LayerStore>(), logger,
            sp.GetRequiredService<IImageUsers>()));
        services.AddSingleton(sp => new RegistryClient(config, logger));
        services.AddSingleton<ImagePuller>();
        services.AddSingleton<ImageFsUsage>();
    }

    /// <summary>The records, and the mechanism the lifecycle drives: cgroups, namespaces, CNI, the OCI runtimes, conmon.</summary>
    static void AddMechanism(IServiceCollection services, LiveConfig config, Serilog.ILogger logger)
    {
        var root = config.Current.Root;
        var state = config.Current.StateDir;
        services.AddSingleton(_ => RuntimeRecords.Sandboxes(root));
        services.AddSingleton(_ => RuntimeRecords.Containers(root));
        services.AddSingleton(_ => CgroupManager.CreateCgroupfs());
        services.AddSingleton(_ => new NamespacePinner());
        services.AddSingleton<CniNetwork>();
        services.AddSingleton<IPodNetwork>(sp => sp.GetRequiredService<CniNetwork>());
        services.AddSingleton(_ => new ExitWatcher(StateLayout.Exits(state), log: logger));
        services.AddSingleton(_ => new ConmonMonitor(config.Current.MonitorPath, StateLayout.Exits(state), StateLayout.AttachLinks(state)));
        services.AddSingleton<IOciRuntimes>(_ => new OciRuntimes(config));
        services.AddSingleton<IContainerMonitor>(sp => sp.GetRequiredService<ConmonMonitor>());
        services.AddSingleton(_ => new Mechanism.Cdi.CdiRegistry(() => config.Current.Cdi.SpecDirs));
    }

    /// <summary>The lifecycle: pods, containers, exec, stats, events, and the streaming server it backs.</summary>
    static void AddLifecycle(IServiceCollection services, LiveConfig config, Serilog.ILogger logger)
    {
        services.AddSingleton<InfraProcess>();
        services.AddSingleton<PodManager>();
        services.AddSingleton<ContainerManager>();
        services.AddSingleton<IPodContainers>(sp => sp.GetRequiredService<ContainerManager>());
        services.AddSingleton<ExecTargets>();
        services.AddSingleton<ExecProcessSpecs>();
        services.AddSingleton<ExecSyncRunner>();
        services.AddSingleton<IStreamingBackend, RuntimeStreamingBackend>();
        services.AddSingleton(sp => new Runtime.Stats.StatsService(sp.GetRequiredService<ContainerManager>(),
            sp.GetRequiredService<State.RecordIndex<PodSandbox>>(), sp.GetRequiredService<ICgroupManager>(), logger));
        services.AddSingleton(sp =>
        {
            var hub = new ContainerEventHub(sp.GetRequiredService<State.RecordIndex<ContainerRecord>>(), sp.GetRequiredService<State.RecordIndex<PodSandbox>>(), logger);
            // Event streams never end by themselves: close them when shutdown starts, or they would hold it for shutdown_timeout_seconds.
            sp.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().ApplicationStopping.Register(hub.Dispose);
            return hub;
        });
        services.AddSingleton<PodResourceUpdater>();
        services.AddSingleton(sp => new StreamingServer(config.Current.Stream, sp.GetRequiredService<IStreamingBackend>(), logger));
    }

    /// <summary>Rebuilds in-memory state from disk before the socket accepts calls.</summary>
    public static async Task RecoverAsync(IServiceProvider services, Serilog.ILogger log)
    {
        // A pod's root in its own user namespace is an ordinary user on the host: it must be able to pass through
        // the root and state dirs to its rootfs and pod files (0711: pass, not list), as containerd asks of its dirs.
        var c = services.GetRequiredService<LiveConfig>().Current;
        foreach (var dir in new[] { c.Root, c.StateDir })
        {
            Directory.CreateDirectory(dir);
            var mode = File.GetUnixFileMode(dir);
            const UnixFileMode pass = UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            if ((mode & pass) == pass) continue;
            File.SetUnixFileMode(dir, mode | pass);
            log.Information("made {Dir} passable for pods with user namespaces ({Old} → {New})", dir, Convert.ToString((int)mode, 8), Convert.ToString((int)(mode | pass), 8));
        }
        services.GetRequiredService<ImageStore>().Recover();
        // Exit events must be watched before containers are reconciled, so none is missed in between.
        services.GetRequiredService<ExitWatcher>().Start();
        var pods = services.GetRequiredService<PodManager>();
        var containers = services.GetRequiredService<ContainerManager>();
        var sandboxes = services.GetRequiredService<State.RecordIndex<PodSandbox>>();
        var containerRecords = services.GetRequiredService<State.RecordIndex<ContainerRecord>>();
        void Unreadable(string kind, string file, string reason, State.QuarantinedRecord? moved) =>
            log.Error("unreadable {Kind} record {File} ({Reason}) moved to {Quarantine}: what it owns stays untouched until an operator acts (crisharp quarantine)",
                kind, file, reason, moved?.File ?? "nowhere");
        sandboxes.Load((f, r, q) => Unreadable("sandbox", f, r, q));
        containerRecords.Load((f, r, q) => Unreadable("container", f, r, q));
        var waiting = State.Quarantine.Under(c.Root).List();
        if (waiting.Count > 0)
            log.Error("{Count} records wait in quarantine under {Dir}; recovery leaves what they own alone (list them: crisharp quarantine)",
                waiting.Count, State.Quarantine.Under(c.Root).Dir);
        // Subscribed to record changes before recovery touches any record; what was loaded is not replayed.
        services.GetRequiredService<ContainerEventHub>().Seed();
        await pods.RecoverAsync();
        // Pods whose RunPodSandbox was cut short have a CNI cache entry but no record: release their addresses.
        // A quarantined pod's attachment stays too: its record may still be repaired.
        await services.GetRequiredService<CniNetwork>().RecoverAsync(sandboxes.All().Select(p => p.Id).Concat(sandboxes.QuarantinedIds()).ToHashSet(), CancellationToken.None);
        await containers.RecoverAsync(CancellationToken.None);
        await containers.FinishInterruptedRemovesAsync();
        await pods.FinishInterruptedRemovesAsync();
        log.Information("recovered {Pods} pod sandboxes and {Containers} containers", sandboxes.All().Count, containerRecords.All().Count);
        // After recovery, so the probe containers never race the reconciliation of the handlers' state roots; and
        // before the socket serves, so a daemon killed once it is up never leaves a probe's mount or bundle behind
        // (each probe is one short container start, well under a second here).
        await services.GetRequiredService<HandlerFeatureProbe>().ResultsAsync();
    }
}
