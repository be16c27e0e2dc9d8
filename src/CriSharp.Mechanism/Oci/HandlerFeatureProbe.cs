using System.Text.Json;
using CriSharp.Configuration;
using CriSharp.Linux;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Processes;
using Serilog;
using CriSharp.State;

namespace CriSharp.Mechanism.Oci;

/// <summary>What one runtime handler can do, as Status advertises it per handler; <paramref name="UserNamespacesMissing"/> says why not.</summary>
public sealed record HandlerFeatures(string Name, bool RecursiveReadOnlyMounts, bool UserNamespaces, string UserNamespacesMissing = "");

/// <summary>
/// Finds out, once per handler and daemon start, what each configured OCI runtime really does on this kernel,
/// instead of trusting version numbers: a recursive read-only bind mount is tried with a throwaway container
/// (`runtime run`) whose process tries to write into a submount, and a pod's user namespace path is walked
/// end to end (pinned user namespace, idmapped layer on the root dir's file system under an overlay, a container
/// of the handler joining it). Status (and critest, and kubelet 1.33+)
/// use the result to decide which pods and mounts to send; CreateContainer refuses what a handler cannot do.
/// </summary>
public sealed class HandlerFeatureProbe(LiveConfig config, NamespacePinner pinner, ILogger log) : IAsyncDisposable
{
    /// <summary>A static shell for the probe container (Debian's busybox-static); the rootfs holds nothing else.</summary>
    public const string ProbeShell = "/bin/busybox";

    readonly Lazy<Task<IReadOnlyDictionary<string, HandlerFeatures>>> _results = new(() => ProbeAllAsync(config, pinner, log, ProbeShell));

    /// <summary>
    /// At shutdown: a probe still running finishes and removes its container and bundle first, so a daemon stopped
    /// right after its start leaves nothing in the state dir (each probe is bounded: 30 s run, 10 s delete).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_results.IsValueCreated) return;
        try { await _results.Value.WaitAsync(TimeSpan.FromSeconds(45)).ConfigureAwait(false); }
        catch (TimeoutException) { log.Warning("runtime handler probes still running at shutdown; their bundles stay in the state dir"); }
    }

    /// <summary>The features of every handler configured at start, keyed by handler name.</summary>
    public Task<IReadOnlyDictionary<string, HandlerFeatures>> ResultsAsync() => _results.Value;

    /// <summary>Whether <paramref name="handler"/> makes a read-only bind mount read-only recursively.</summary>
    public async Task<bool> SupportsRecursiveReadOnlyAsync(string handler) =>
        (await ResultsAsync().ConfigureAwait(false)).TryGetValue(handler, out var f) && f.RecursiveReadOnlyMounts;

    static async Task<IReadOnlyDictionary<string, HandlerFeatures>> ProbeAllAsync(LiveConfig config, NamespacePinner pinner, ILogger log, string shell)
    {
        var c = config.Current;
        var dir = StateLayout.Probes(c.StateDir);
        var layersDir = StateLayout.ProbeLayers(c.Root);
        // A probe cut short by a crash leaves its mounts and bundle: nothing else lives here.
        foreach (var d in new[] { dir, layersDir })
        {
            if (!Directory.Exists(d)) continue;
            Mounts.UnmountAllUnder(d);
            try { Directory.Delete(d, recursive: true); }
            catch (IOException e) { log.Warning("cannot remove old probe bundles in {Dir}: {Error}", d, e.Message); }
        }
        // Handlers are probed one after the other: each is a short container start, and the host has few cores.
        var results = new Dictionary<string, HandlerFeatures>(StringComparer.Ordinal);
        foreach (var (name, handler) in c.Runtimes)
        {
            var rro = await ProbeRecursiveReadOnlyAsync(name, handler, dir, shell, log).ConfigureAwait(false);
            var usernsMissing = await UserNamespaceProbe.RunAsync(name, handler, dir, layersDir, shell, pinner, log).ConfigureAwait(false);
            results[name] = new HandlerFeatures(name, rro, UserNamespaces: usernsMissing.Length == 0, usernsMissing);
        }
        return results;
    }

    static async Task<bool> ProbeRecursiveReadOnlyAsync(string name, RuntimeHandlerConfig handler, string probesDir, string shell, ILogger log)
    {
        if (!File.Exists(handler.Path) || !File.Exists(shell))
        {
            log.Warning("runtime handler {Handler}: recursive read-only mounts not probed: {Missing} is missing",
                name, File.Exists(handler.Path) ? shell : handler.Path);
            return false;
        }
        var id = $"crisharp-probe-rro-{name}-{Guid.NewGuid():N}"[..48];
        var bundle = Path.Combine(probesDir, id);
        var source = Path.Combine(bundle, "source");
        var submount = Path.Combine(source, "sub");
        var mounted = false;
        try
        {
            foreach (var d in new[] { "rootfs/dev", "rootfs/proc", "rootfs/probe", "source/sub" })
                Directory.CreateDirectory(Path.Combine(bundle, d));
            File.Copy(shell, Path.Combine(bundle, "rootfs", "sh"));
            Mounts.MountTmpfs(submount, sizeBytes: 64 * 1024);
            mounted = true;
            var spec = new OciSpec
            {
                Process = new OciProcess
                {
                    Args = ["/sh", "-c", "if touch /probe/sub/w 2>/dev/null; then echo writable; else echo read-only; fi"],
                    Env = ["PATH=/"],
                },
                Root = new OciRoot { Path = "rootfs", Readonly = true },
                Mounts =
                [
                    new OciMount { Destination = "/proc", Type = "proc", Source = "proc" },
                    new OciMount { Destination = "/probe", Type = "bind", Source = source, Options = ["rbind", "rro", "rprivate"] },
                ],
                Linux = new OciLinux { Namespaces = [new OciNamespace { Type = "mount" }, new OciNamespace { Type = "pid" }] },
            };
            await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), JsonSerializer.Serialize(spec, OciJsonContext.Default.OciSpec)).ConfigureAwait(false);
            var result = await ProcessRunner.RunAsync(handler.Path, ["--root", handler.RootDir, "run", "--bundle", bundle, id],
                TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
            var works = result.ExitCode == 0 && result.Stdout.Trim() == "read-only" && !File.Exists(Path.Combine(submount, "w"));
            if (works)
                log.Debug("runtime handler {Handler}: recursive read-only mounts work", name);
            else
                log.Warning("runtime handler {Handler}: recursive read-only mounts do not work here (exit {Exit}: {Output})",
                    name, result.ExitCode, (result.Stdout + " " + result.Stderr).Trim());
            return works;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException or ExternalProgramException)
        {
            log.Warning("runtime handler {Handler}: recursive read-only probe failed: {Error}", name, e.Message);
            return false;
        }
        finally
        {
            await ProcessRunner.RunAsync(handler.Path, ["--root", handler.RootDir, "delete", "--force", id], TimeSpan.FromSeconds(10), CancellationToken.None)
                .ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            if (mounted) Mounts.Unmount(submount, detach: true);
            try { Directory.Delete(bundle, recursive: true); }
            catch (IOException) { }
        }
    }
}
