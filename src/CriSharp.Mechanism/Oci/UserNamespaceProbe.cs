using System.Text.Json;
using CriSharp.Configuration;
using CriSharp.Linux;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using Serilog;

namespace CriSharp.Mechanism.Oci;

/// <summary>
/// Whether one handler can run a pod with its own user namespace on this host, tried the way a real pod is made:
/// a pinned user namespace (with network/IPC/UTS namespaces it owns), a layer directory on the root dir's file
/// system idmapped through it under an overlay whose upper belongs to the mapped root, and a throwaway container
/// of the handler joining the namespaces that reports its uid_map, sees its layer file owned by 0 and writes a file.
/// </summary>
static class UserNamespaceProbe
{
    /// <summary>A host range nothing else uses for the few milliseconds the probe lives.</summary>
    const uint ProbeHostId = 0x7FFF0000, ProbeLength = 65536;

    /// <summary>"" when the whole path works, else what is missing (Status keeps it; RunPodSandbox quotes it).</summary>
    public static async Task<string> RunAsync(string name, RuntimeHandlerConfig handler, string probesDir, string layersDir,
        string shell, NamespacePinner pinner, ILogger log)
    {
        var missing = await TryAsync(name, handler, probesDir, layersDir, shell, pinner).ConfigureAwait(false);
        if (missing.Length == 0) log.Debug("runtime handler {Handler}: pods with user namespaces work", name);
        else log.Warning("runtime handler {Handler}: no user namespaces for pods: {Missing}", name, missing);
        return missing;
    }

    /// <summary>The probe's steps in order, each returning what is missing when it fails; whatever was made is undone in the end.</summary>
    static async Task<string> TryAsync(string name, RuntimeHandlerConfig handler, string probesDir, string layersDir, string shell, NamespacePinner pinner)
    {
        if (MissingPrerequisite(handler, shell) is { } missing) return missing;
        var id = $"crisharp-probe-userns-{name}-{Guid.NewGuid():N}"[..48];
        var bundle = Path.Combine(probesDir, id);
        var layer = Path.Combine(layersDir, id);
        var rootfs = Path.Combine(bundle, "rootfs");
        var nsDir = Path.Combine(bundle, "ns");
        IdmapStaging? staging = null;
        var mounted = false;
        try
        {
            LayOutLayer(rootfs, layer, shell);
            var (pinned, pinFailure) = await PinAsync(pinner, nsDir).ConfigureAwait(false);
            if (pinned is null) return pinFailure;
            if (IdmappedMounts.Probe(layer, pinned.UserPath!) is { } why)
                return $"the root dir's file system takes no idmapped mounts: {why}";

            staging = IdmapStaging.Create(bundle);
            if (MountIdmappedOverlay(staging, layer, rootfs, pinned.UserPath!) is { } overlayFailure) return overlayFailure;
            mounted = true;
            staging.Release();

            var result = await RunProbeContainerAsync(handler, id, bundle, ProbeSpec(rootfs, pinned)).ConfigureAwait(false);
            return Verdict(name, layer, result);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException or ExternalProgramException)
        {
            return $"probe failed: {e.Message}";
        }
        finally
        {
            await ProcessRunner.RunAsync(handler.Path, ["--root", handler.RootDir, "delete", "--force", id], TimeSpan.FromSeconds(10), CancellationToken.None)
                .ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            if (mounted) Mounts.Unmount(rootfs, detach: true);
            try { staging?.Release(); } catch (IOException) { }
            pinner.Release(nsDir);
            foreach (var d in new[] { bundle, layer })
                try { if (Directory.Exists(d) && Mounts.UnmountAllUnder(d) >= 0) Directory.Delete(d, recursive: true); }
                catch (IOException) { }
        }
    }

    /// <summary>What the host lacks for the probe to start (user namespaces, the handler's binary, the shell), or null.</summary>
    static string? MissingPrerequisite(RuntimeHandlerConfig handler, string shell)
    {
        if (!File.Exists("/proc/self/ns/user")) return "the kernel has no user namespaces";
        if (!File.Exists(handler.Path)) return $"{handler.Path} is missing";
        if (!File.Exists(shell)) return $"{shell} (the probe's shell) is missing";
        return null;
    }

    /// <summary>The rootfs mount point and the layer: a lower holding the shell, /dev and /proc, an upper and a work dir.</summary>
    static void LayOutLayer(string rootfs, string layer, string shell)
    {
        // /dev and /proc exist in the layer, as in any image: crun does not create them in a rootfs it does not own.
        foreach (var d in new[] { rootfs, Path.Combine(layer, "lower", "dev"), Path.Combine(layer, "lower", "proc"), Path.Combine(layer, "upper"), Path.Combine(layer, "work") })
            Directory.CreateDirectory(d);
        File.Copy(shell, Path.Combine(layer, "lower", "sh"));
    }

    /// <summary>Pins a user namespace with the probe's mapping and network/IPC/UTS namespaces it owns; on failure, null and why.</summary>
    static async Task<(PinnedNamespaces? Pinned, string Failure)> PinAsync(NamespacePinner pinner, string nsDir)
    {
        var mapping = new List<IdMapping> { new(0, ProbeHostId, ProbeLength) };
        var userns = new UserNamespaceSpec(NamespaceMode.Pod, mapping, mapping);
        try
        {
            return (await pinner.PinAsync(nsDir, net: true, ipc: true, uts: true, "probe", new Dictionary<string, string>(), CancellationToken.None, userns)
                .ConfigureAwait(false), "");
        }
        catch (Exception e) when (e is ExternalProgramException or InvalidOperationException or IOException or LinuxException or UnauthorizedAccessException)
        {
            return (null, $"cannot make a user namespace with a mapping: {e.Message}");
        }
    }

    /// <summary>
    /// Idmaps the layer's lower through <paramref name="userNs"/> in <paramref name="staging"/>, gives the upper to the
    /// mapped root and mounts the overlay on <paramref name="rootfs"/>; null when mounted, else why overlayfs refused.
    /// </summary>
    static string? MountIdmappedOverlay(IdmapStaging staging, string layer, string rootfs, string userNs)
    {
        var lowers = staging.MapLowers([Path.Combine(layer, "lower")], userNs);
        FileMetadata.Lchown(Path.Combine(layer, "upper"), ProbeHostId, ProbeHostId);
        try
        {
            Mounts.MountOverlay(lowers, Path.Combine(layer, "upper"), Path.Combine(layer, "work"), rootfs);
            return null;
        }
        catch (LinuxException e)
        {
            return $"overlayfs takes no idmapped layers: {e.Message}";
        }
    }

    /// <summary>The throwaway container: joins the pinned namespaces with the probe's mapping, prints its uid_map and the layer file's owner, writes /w.</summary>
    static OciSpec ProbeSpec(string rootfs, PinnedNamespaces pinned)
    {
        var ociMapping = new List<OciIdMapping> { new() { ContainerId = 0, HostId = ProbeHostId, Size = ProbeLength } };
        return new OciSpec
        {
            Process = new OciProcess
            {
                Args = ["/sh", "-c", "cat /proc/self/uid_map; ls -ln /sh; echo w > /w"],
                Env = ["PATH=/"],
            },
            Root = new OciRoot { Path = rootfs },
            Mounts = [new OciMount { Destination = "/proc", Type = "proc", Source = "proc" }],
            Linux = new OciLinux
            {
                Namespaces =
                [
                    new OciNamespace { Type = "user", Path = pinned.UserPath },
                    new OciNamespace { Type = "mount" },
                    new OciNamespace { Type = "pid" },
                    new OciNamespace { Type = "network", Path = pinned.NetPath },
                    new OciNamespace { Type = "ipc", Path = pinned.IpcPath },
                    new OciNamespace { Type = "uts", Path = pinned.UtsPath },
                ],
                UidMappings = ociMapping,
                GidMappings = ociMapping,
            },
        };
    }

    /// <summary>Writes the bundle's config.json and runs the container to its end (30 s at most).</summary>
    static async Task<ProcessResult> RunProbeContainerAsync(RuntimeHandlerConfig handler, string id, string bundle, OciSpec spec)
    {
        await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), JsonSerializer.Serialize(spec, OciJsonContext.Default.OciSpec)).ConfigureAwait(false);
        return await ProcessRunner.RunAsync(handler.Path, ["--root", handler.RootDir, "run", "--bundle", bundle, id],
            TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>"" when the container ran, saw the pod's mapping and its layer file owned by 0, and its file landed as the mapped uid; else what failed.</summary>
    static string Verdict(string name, string layer, ProcessResult result)
    {
        var output = (result.Stdout + " " + result.Stderr).Trim();
        if (result.ExitCode != 0) return $"{name} cannot run a container in a pod user namespace (exit {result.ExitCode}: {output})";
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var map = lines.FirstOrDefault()?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (map is not ["0", var hostId, var length] || hostId != ProbeHostId.ToString() || length != ProbeLength.ToString())
            return $"the container of {name} did not get the pod's mapping (uid_map: {lines.FirstOrDefault()})";
        var owner = lines.ElementAtOrDefault(1)?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (owner.Length < 4 || owner[2] != "0" || owner[3] != "0")
            return $"an idmapped layer file does not appear owned by root in the container of {name} ({lines.ElementAtOrDefault(1)})";
        var written = Path.Combine(layer, "upper", "w");
        if (!File.Exists(written) || FileMetadata.Lstat(written).Uid != ProbeHostId)
            return $"a file written by the container's root of {name} did not land as the mapped uid {ProbeHostId}";
        return "";
    }
}
