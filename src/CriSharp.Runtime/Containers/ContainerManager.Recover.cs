using CriSharp.Linux;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.State;

namespace CriSharp.Runtime.Containers;

/// <summary>Recovery at start: running containers stay, exits that happened meanwhile are recorded, leftovers of half-made ones go.</summary>
public sealed partial class ContainerManager
{
    /// <summary>
    /// After a restart: containers still running under their conmon stay Running; those that exited
    /// meanwhile get their real exit code from conmon's exit file; leftovers of half-made containers go.
    /// </summary>
    public async Task RecoverAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(ContainersStateDir);
        Directory.CreateDirectory(ContainersLayerDir);
        foreach (var c in _containers.All()) await RecoverOneAsync(c);
        await RemoveLeftoversAsync();
        SweepOrphanExitFilesLater();
    }

    /// <summary>One record: its name claimed again, and its state checked against the exit file and the runtime.</summary>
    async Task RecoverOneAsync(ContainerRecord c)
    {
        var sandbox = _sandboxes.Get(c.SandboxId);
        if (sandbox != null)
            _names.Claim(Naming.ContainerName(c.Spec.Name, sandbox.Spec.Name, sandbox.Spec.Namespace, sandbox.Spec.Uid, c.Spec.Attempt), c.Id);
        if (c.State is ContainerState.Exited or ContainerState.Unknown)
        {
            // A daemon killed between the exit and the unmount.
            ReleaseImageVolumes(c);
            return;
        }
        var exit = _exits.ReadExitFile(c.Id);
        if (exit is { } e)
        {
            // A record that cannot be written now (full disk) is the exit watcher's to retry: it has this file too.
            try { OnExited(c.Id, e.ExitCode, e.FinishedAt); }
            catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
            {
                _log.Warning("container {ContainerId} exited with {ExitCode} but its record cannot be written yet: {Error}", c.Id, e.ExitCode, failed.Message);
            }
            return;
        }
        OciState? state;
        try
        {
            state = await RuntimeFor(c.RuntimeHandler).StateAsync(c.Id);
        }
        catch (HandlerUnavailableException unavailable)
        {
            // Never a failed start and never a guess: the container keeps its last known state until the handler is back.
            _log.Warning("container {ContainerId} keeps its last known state {State}: {Error}", c.Id, c.State, unavailable.Message);
            return;
        }
        if (state is { Status: "running" or "created" or "paused" }) return;
        _log.Warning("container {ContainerId} is gone without an exit file (reboot?); marking it exited", c.Id);
        ReleaseImageVolumes(c);
        try { _containers.Update(c.Id, r => r with { State = ContainerState.Exited, ExitCode = 255, Reason = "Unknown", FinishedAt = Naming.NowNanos() }); }
        catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
        {
            _log.Error("container {ContainerId} keeps its last known state {State}: its record cannot be written: {Error}", c.Id, c.State, failed.Message);
        }
    }

    /// <summary>Bundles and writable layers without a record (what an interrupted create left) are removed; those of a quarantined record stay.</summary>
    async Task RemoveLeftoversAsync()
    {
        var quarantined = _containers.QuarantinedIds();
        foreach (var dir in Directory.EnumerateDirectories(ContainersStateDir))
        {
            var id = Path.GetFileName(dir);
            if (_containers.Get(id) != null) continue;
            if (quarantined.Contains(id))
            {
                // Never a guess about what a record we cannot read described: its process, bundle, mounts and cgroup stay.
                _log.Error("container {ContainerId}: its record is in quarantine; its process, bundle, rootfs and cgroup stay as they are", id);
                continue;
            }
            _log.Warning("removing leftovers of container {ContainerId} from an interrupted create", id);
            var deleted = true;
            foreach (var runtime in _runtimes.All())
            {
                try { await runtime.DeleteAsync(id, force: true); }
                catch (HandlerUnavailableException e) { _log.Warning("leftover container {ContainerId}: not deleted from {Handler}: {Error}", id, runtime.HandlerName, e.Message); }
                catch (ExternalProgramException e)
                {
                    // The daemon still starts; what the runtime would not delete stays, with its bundle, for the next start.
                    _log.Error("leftover container {ContainerId}: {Handler} could not delete it, its bundle stays: {Error}", id, runtime.HandlerName, e.Message);
                    deleted = false;
                }
            }
            if (!deleted) continue;
            try
            {
                Mounts.UnmountAllUnder(dir);
                DeleteDir(dir);
                DeleteAttachEntry(id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
            {
                _log.Error("leftover container {ContainerId}: could not remove {Dir}: {Error}", id, dir, e.Message);
            }
        }
        foreach (var dir in Directory.EnumerateDirectories(ContainersLayerDir))
            if (_containers.Get(Path.GetFileName(dir)) == null && !quarantined.Contains(Path.GetFileName(dir))) DeleteDir(dir);
    }
}
