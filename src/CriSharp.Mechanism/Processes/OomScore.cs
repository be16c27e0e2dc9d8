namespace CriSharp.Mechanism.Processes;

/// <summary>
/// The daemon's own oom_score_adj and whether it may set lower ones: without CAP_SYS_RESOURCE in the
/// bounding set (true on some hosts, including this project's VMs), the kernel refuses to lower it.
/// </summary>
public static class OomScore
{
    const int CapSysResource = 24;

    public static int Own { get; } = ReadOwn();

    public static bool Restricted { get; } = !HasBoundingCapability(CapSysResource);

    static int ReadOwn()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/self/oom_score_adj").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return 0;
        }
    }

    static bool HasBoundingCapability(int cap)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("CapBnd:", StringComparison.Ordinal))
                return (Convert.ToUInt64(line[7..].Trim(), 16) & (1UL << cap)) != 0;
        return true;
    }
}
