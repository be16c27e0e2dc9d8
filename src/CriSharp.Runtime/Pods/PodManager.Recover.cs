using CriSharp.Linux;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Processes;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;
using CriSharp.State;

namespace CriSharp.Runtime.Pods;

/// <summary>Recovery at start: recorded pods are kept, leftovers of half-made ones removed.</summary>
public sealed partial class PodManager
{
    /// <summary>
    /// After a restart: pods whose pinned namespaces vanished (a reboot) are NotReady; pod dirs without
    /// a record (a crash mid-create) are cleaned up.
    /// </summary>
    public async Task RecoverAsync()
    {
        Directory.CreateDirectory(PodsDir);
        foreach (var pod in sandboxes.All())
        {
            ClaimName(pod);
            var lost = pod.State == SandboxState.Ready && pod.NetNsPath.Length > 0 && !Mounts.IsMountPoint(pod.NetNsPath);
            if (lost)
            {
                log.Warning("pod sandbox {PodId} lost its network namespace (reboot?); marking it NotReady", pod.Id);
                sandboxes.Update(pod.Id, p => p with { State = SandboxState.NotReady });
            }
        }
        var quarantined = sandboxes.QuarantinedIds();
        foreach (var dir in Directory.EnumerateDirectories(PodsDir))
        {
            var id = Path.GetFileName(dir);
            if (sandboxes.Get(id) != null) continue;
            if (quarantined.Contains(id))
            {
                log.Error("pod sandbox {PodId}: its record is in quarantine; its dir, namespaces, cgroup, infra and network stay as they are", id);
                continue;
            }
            log.Warning("removing leftovers of pod sandbox {PodId} from an interrupted create", id);
            if (!await DeleteLeftoverInfraAsync(dir, id)) continue;
            try
            {
                RemoveLeftover(dir, id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
            {
                log.Error("leftover pod sandbox {PodId}: could not remove {Dir}: {Error}", id, dir, e.Message);
            }
        }
    }

    /// <summary>
    /// An infra process started before the crash would keep the orphaned namespaces alive: deleted first. False when a
    /// runtime would not delete it: then the pod's dir stays as it is for the next start (the daemon still comes up).
    /// </summary>
    async Task<bool> DeleteLeftoverInfraAsync(string dir, string id)
    {
        if (!Directory.Exists(Path.Combine(dir, "infra"))) return true;
        foreach (var runtime in infra.Runtimes.All())
        {
            try { await runtime.DeleteAsync("infra-" + id, force: true); }
            catch (HandlerUnavailableException e) { log.Warning("leftover infra of pod sandbox {PodId}: {Error}", id, e.Message); }
            catch (ExternalProgramException e)
            {
                log.Error("leftover infra of pod sandbox {PodId} could not be deleted; its dir stays: {Error}", id, e.Message);
                return false;
            }
        }
        return true;
    }

    void RemoveLeftover(string dir, string id)
    {
        Mounts.UnmountAllUnder(dir);
        var note = Path.Combine(dir, CgroupNoteFile);
        var own = cgroups.PodCgroupPath("", id);
        foreach (var path in File.Exists(note) ? File.ReadAllLines(note).Select(l => l.Trim()).Where(l => l.Length > 0) : [])
        {
            // Notes of older versions named the kubelet's cgroup_parent itself: only cgroups CriSharp makes are removed.
            if (path != own && !Path.GetFileName(path).StartsWith("crisharp-", StringComparison.Ordinal))
            {
                log.Information("interrupted pod sandbox {PodId}: leaving cgroup {Cgroup}, which CriSharp did not make", id, path);
                continue;
            }
            try { cgroups.Remove(path); }
            catch (Exception e) when (e is CgroupException or IOException or ArgumentException)
            {
                log.Warning("could not remove cgroup {Cgroup} of interrupted pod sandbox {PodId}: {Error}", path, id, e.Message);
            }
        }
        Directory.Delete(dir, recursive: true);
    }
}
