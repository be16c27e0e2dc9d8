using System.Globalization;
using CriSharp.Linux;
using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;

namespace CriSharp.Runtime.Stats;

/// <summary>Counters of one network interface, as /proc/net/dev has them.</summary>
public sealed record InterfaceStats(string Name, ulong RxBytes, ulong RxPackets, ulong RxErrors, ulong RxDropped,
    ulong TxBytes, ulong TxPackets, ulong TxErrors, ulong TxDropped);

/// <summary>The interfaces of a pod's network namespace (loopback left out), read at <see cref="Timestamp"/> (unix ns).</summary>
public sealed record NetworkStats(long Timestamp, IReadOnlyList<InterfaceStats> Interfaces)
{
    /// <summary>The interface the kubelet reports as the pod's default: eth0 if present, else the first.</summary>
    public InterfaceStats? Default => Interfaces.FirstOrDefault(i => i.Name == "eth0") ?? Interfaces.FirstOrDefault();
}

/// <summary>Parses /proc/net/dev.</summary>
public static class NetDev
{
    /// <summary>Every interface but "lo", in file order.</summary>
    public static List<InterfaceStats> Parse(string? text)
    {
        var list = new List<InterfaceStats>();
        if (text == null) return list;
        foreach (var raw in text.Split('\n'))
        {
            var colon = raw.IndexOf(':');
            if (colon <= 0) continue; // the two header lines have '|' but no ':'
            var name = raw[..colon].Trim();
            if (name.Length == 0 || name == "lo") continue;
            var f = raw[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 16) continue;
            ulong N(int i) => ulong.TryParse(f[i], NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;
            // rx: bytes packets errs drop fifo frame compressed multicast | tx: bytes packets errs drop fifo colls carrier compressed
            list.Add(new InterfaceStats(name, N(0), N(1), N(2), N(3), N(8), N(9), N(10), N(11)));
        }
        return list;
    }
}

/// <summary>
/// Reads a pod's network counters from its namespace: through /proc/&lt;pid&gt;/net/dev of a process
/// verified to be in the pod's netns (a container or the infra process), else by entering the pinned
/// namespace with nsenter (a pod with no running process).
/// </summary>
public sealed class PodNetworkReader
{
    /// <summary>Counters of the pod's netns, or null for a host-network pod or a namespace that is gone.</summary>
    public async Task<NetworkStats?> ReadAsync(PodSandbox pod, IEnumerable<int> candidatePids, CancellationToken ct)
    {
        if (pod.NetNsPath.Length == 0) return null; // host network: not the pod's to report
        ulong nsInode;
        try
        {
            nsInode = FileMetadata.Lstat(pod.NetNsPath).Inode;
        }
        catch (LinuxException)
        {
            return null;
        }
        foreach (var pid in candidatePids.Append(pod.InfraPid).Where(p => p > 0).Distinct())
        {
            if (NetNsInode(pid) != nsInode) continue;
            var text = CgroupFiles.Read($"/proc/{pid}/net/dev");
            if (text != null) return new NetworkStats(Naming.NowNanos(), NetDev.Parse(text));
        }
        try
        {
            var r = await ProcessRunner.RunAsync("nsenter", ["--net=" + pod.NetNsPath, "cat", "/proc/net/dev"], TimeSpan.FromSeconds(5), ct);
            return r.ExitCode == 0 ? new NetworkStats(Naming.NowNanos(), NetDev.Parse(r.Stdout)) : null;
        }
        catch (ExternalProgramException)
        {
            return null;
        }
    }

    /// <summary>The inode of a process's network namespace from the "net:[N]" link, or 0.</summary>
    public static ulong NetNsInode(int pid)
    {
        try
        {
            var target = new FileInfo($"/proc/{pid}/ns/net").LinkTarget;
            if (target == null || !target.StartsWith("net:[", StringComparison.Ordinal) || !target.EndsWith(']')) return 0;
            return ulong.TryParse(target.AsSpan(5, target.Length - 6), NumberStyles.None, CultureInfo.InvariantCulture, out var ino) ? ino : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}

/// <summary>Open files, sockets and limits of a cgroup's processes, from /proc (for the cAdvisor metrics).</summary>
public static class ProcessInspector
{
    /// <summary>Open file descriptors of <paramref name="pids"/>, and how many of them are sockets.</summary>
    public static (int FileDescriptors, int Sockets) CountFds(IEnumerable<int> pids)
    {
        int fds = 0, sockets = 0;
        foreach (var pid in pids)
        {
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                {
                    fds++;
                    try
                    {
                        if (new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true) sockets++;
                    }
                    catch (IOException)
                    {
                        // closed meanwhile
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // exited meanwhile
            }
        }
        return (fds, sockets);
    }

    /// <summary>The soft limit named <paramref name="limit"/> in /proc/&lt;pid&gt;/limits ("Max open files"); null if unlimited or unknown.</summary>
    public static ulong? SoftLimit(int pid, string limit = "Max open files")
    {
        var text = CgroupFiles.Read($"/proc/{pid}/limits");
        if (text == null) return null;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(limit, StringComparison.Ordinal)) continue;
            var soft = line[limit.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            return ulong.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        return null;
    }
}
