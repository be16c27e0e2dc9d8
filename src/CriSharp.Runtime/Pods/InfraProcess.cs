using System.Text.Json;
using CriSharp.Configuration;
using CriSharp.Images;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.Runtime.Spec;
using CriSharp.State;

namespace CriSharp.Runtime.Pods;

/// <summary>
/// The process that holds a pod's shared PID namespace (namespace_options.pid == POD). It needs no image:
/// the host's static catatonit (Debian package) is bind-mounted into an empty read-only rootfs and run
/// in pause mode under conmon, like any container, so it survives daemon restarts.
/// </summary>
public sealed class InfraProcess(IOciRuntimes runtimes, IContainerMonitor monitor)
{
    public const string Binary = "/usr/bin/catatonit";

    static string BundleOf(PodSandbox pod) => Path.Combine(pod.Dir, "infra");

    public IOciRuntimes Runtimes => runtimes;

    public IOciRuntime RuntimeFor(PodSandbox pod) => runtimes.For(pod.RuntimeHandler);

    /// <summary>Starts the infra process; returns its container id and host pid.</summary>
    public async Task<(string Id, int Pid)> StartAsync(PodSandbox pod, string cgroupPath, CancellationToken ct)
    {
        if (!File.Exists(Binary))
            throw new WrongStateException($"{Binary} is missing (Debian package catatonit): it holds the shared PID namespace of pods with namespace_options.pid = POD");
        var id = "infra-" + pod.Id;
        var bundle = BundleOf(pod);
        var rootfs = Path.Combine(bundle, "rootfs");
        Directory.CreateDirectory(rootfs);
        // The runtime makes its mount points (/proc, /dev, /catatonit) in the empty rootfs as the pod's root.
        if (pod.UserNsPath.Length > 0 && pod.Spec.Security.Namespaces.User is { IsPod: true } userns)
            CriSharp.Linux.FileMetadata.Lchown(rootfs, userns.HostRoot.Uid, userns.HostRoot.Gid);
        var spec = new ContainerSpec
        {
            Name = "infra",
            Image = "",
            Command = ["/catatonit", "-P"],
            Mounts = [new MountSpec("/catatonit", Binary, Readonly: true)],
            Security = new SecuritySpec
            {
                ReadonlyRootfs = true,
                Namespaces = new NamespaceModes(
                    pod.Spec.Security.Namespaces.Network, NamespaceMode.Container, pod.Spec.Security.Namespaces.Ipc),
                DropCapabilities = ["ALL"],
                NoNewPrivs = true,
            },
        };
        var oci = OciSpecGenerator.Generate(new SpecInput(spec, pod, new ImageConfig(), rootfs, cgroupPath, null, id));
        AtomicFile.Write(Path.Combine(bundle, "config.json"), JsonSerializer.SerializeToUtf8Bytes(oci, OciJsonContext.Default.OciSpec));
        var runtime = RuntimeFor(pod);
        try
        {
            var process = await monitor.CreateAsync(new ContainerLaunch(id, "infra", bundle, runtime, Path.Combine(bundle, "infra.log"), false, false, false), ct);
            await runtime.StartAsync(id);
            return (id, process.Pid);
        }
        catch
        {
            await runtime.DeleteAsync(id, force: true);
            throw;
        }
    }

    /// <summary>Kills and deletes the infra process (idempotent).</summary>
    public async Task StopAsync(PodSandbox pod)
    {
        if (pod.InfraContainerId.Length == 0) return;
        var runtime = RuntimeFor(pod);
        await runtime.KillAsync(pod.InfraContainerId, Signals.SIGKILL, all: true);
        await runtime.DeleteAsync(pod.InfraContainerId, force: true);
        var exitFile = monitor.ExitFileOf(pod.InfraContainerId);
        var attachEntry = monitor.AttachLinkOf(pod.InfraContainerId);
        // conmon writes the exit file and keeps its attach link until it has seen the exit; tidy both a little later.
        _ = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
            try { File.Delete(exitFile); File.Delete(attachEntry); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        });
    }
}
