namespace CriSharp.Mechanism.Processes;

/// <summary>
/// The daemon's own oom_score_adj and whether it may set lower ones: without CAP_SYS_RESOURCE in the
/// bounding set (true on some hosts, including this project's VMs), the kernel refuses to lower it.
/// </summary>
public static class OomScore
{
    /// <summary>The daemon's own oom_score_adj.</summary>
    public static int Own => HostFeatures.Current.OwnOomScoreAdj;

    /// <summary>Without CAP_SYS_RESOURCE in the bounding set, no value below <see cref="Own"/> can be set.</summary>
    public static bool Restricted => !HostFeatures.Current.HasBoundingCapability(HostFeatures.CapSysResource);
}
