using CriSharp.Mechanism.Cgroups;
using CriSharp.Model;
using CriSharp.State;
using Serilog;

namespace CriSharp.Runtime.Pods;

/// <summary>
/// UpdatePodSandboxResources (in-place pod resize): applies the pod-level limits to the pod cgroup and records the
/// new overhead and resources on the sandbox. Best effort, as CRI defines it: kubelet has resized its own pod
/// cgroup before it calls, and a failure does not block the resize.
/// </summary>
/// <remarks>
/// CRI's <c>resources</c> is the sum of the containers' resources and <c>overhead</c> the pod overhead, so the pod
/// cgroup gets their sum: cpu shares, CFS quota (overhead scaled to the resources' period), memory limit and
/// hugepage limits; cpuset from <c>resources</c>. A field left unset (0) or unlimited in <c>resources</c> is not
/// written. Swap, oom_score_adj and <c>unified</c> are not applied to the pod cgroup. A request without one of the
/// two keeps the recorded value for it.
/// </remarks>
public sealed class PodResourceUpdater(RecordIndex<PodSandbox> sandboxes, ICgroupManager cgroups, ILogger log)
{
    public PodSandbox Update(string id, ResourceSpec? overhead, ResourceSpec? resources)
    {
        var pod = sandboxes.Find(id) ?? throw new ObjectNotFoundException($"pod sandbox {id} not found");
        if (pod.State != SandboxState.Ready)
            throw new WrongStateException($"pod sandbox {pod.Id} is not ready");
        overhead ??= pod.Spec.Overhead;
        resources ??= pod.Spec.Resources;
        if (PodLimits(overhead, resources) is { } limits && pod.CgroupPath.Length > 0)
            cgroups.Update(pod.CgroupPath, limits);
        var updated = sandboxes.Update(pod.Id, p => p with { Spec = p.Spec with { Overhead = overhead, Resources = resources } })
            ?? throw new ObjectNotFoundException($"pod sandbox {pod.Id} was removed during the update");
        log.Information("pod sandbox {PodId} resources updated (cgroup {Cgroup})", pod.Id, pod.CgroupPath);
        return updated;
    }

    /// <summary>What the pod cgroup gets: resources plus overhead, for the fields resources sets; null if none.</summary>
    internal static ResourceSpec? PodLimits(ResourceSpec? overhead, ResourceSpec? resources)
    {
        if (resources == null) return null;
        var o = overhead ?? new ResourceSpec();
        var period = resources.CpuPeriod > 0 ? resources.CpuPeriod : 100_000;
        long quota = resources.CpuQuota switch
        {
            > 0 => resources.CpuQuota + (o.CpuQuota > 0 ? o.CpuQuota * period / (o.CpuPeriod > 0 ? o.CpuPeriod : 100_000) : 0),
            < 0 => -1,
            _ => 0,
        };
        var hugepages = resources.HugepageLimits
            .Select(h => new HugepageLimitSpec(h.PageSize, h.Limit + o.HugepageLimits.Where(x => x.PageSize == h.PageSize).Aggregate(0UL, (sum, x) => sum + x.Limit)))
            .ToList();
        var limits = new ResourceSpec
        {
            CpuShares = resources.CpuShares > 0 ? resources.CpuShares + Math.Max(0, o.CpuShares) : 0,
            CpuQuota = quota,
            CpuPeriod = quota != 0 ? period : 0,
            MemoryLimitInBytes = resources.MemoryLimitInBytes > 0 ? resources.MemoryLimitInBytes + Math.Max(0, o.MemoryLimitInBytes) : 0,
            CpusetCpus = resources.CpusetCpus,
            CpusetMems = resources.CpusetMems,
            HugepageLimits = hugepages,
        };
        return limits;
    }
}
