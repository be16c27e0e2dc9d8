using System.Text;

using CriSharp.Model;

namespace CriSharp.Runtime.Pods;

/// <summary>Writes a pod's hostname, /etc/hosts and resolv.conf, which containers bind-mount.</summary>
public static class PodFiles
{
    public static void Write(PodSandbox pod, bool hostNetwork)
    {
        var hostname = HostnameOf(pod.Spec, hostNetwork);
        File.WriteAllText(pod.HostnamePath, hostname + "\n");
        if (hostNetwork && File.Exists("/etc/hosts"))
            File.Copy("/etc/hosts", pod.HostsPath, overwrite: true);
        else
            File.WriteAllText(pod.HostsPath, Hosts(hostname, pod.Ips));
        File.WriteAllText(pod.ResolvConfPath, ResolvConf(pod.Spec));
        // In a pod with its own user namespace the files belong to the pod's root, as they would without one:
        // the container's root may rewrite /etc/hosts. They are the pod's own copies, never shared.
        if (pod.Spec.Security.Namespaces.User is { IsPod: true } userns)
        {
            var (uid, gid) = userns.HostRoot;
            foreach (var path in new[] { pod.HostnamePath, pod.HostsPath, pod.ResolvConfPath })
                CriSharp.Linux.FileMetadata.Lchown(path, uid, gid);
        }
    }

    public static string HostnameOf(SandboxSpec spec, bool hostNetwork) =>
        hostNetwork || spec.Hostname.Length == 0 ? System.Net.Dns.GetHostName() : spec.Hostname;

    /// <summary>Rewrites /etc/hosts once the pod has IPs (the network hook runs after the files exist).</summary>
    public static void UpdateHosts(PodSandbox pod, bool hostNetwork)
    {
        // Truncated in place (not replaced), so the owner a user-namespaced pod's copy got stays.
        if (!hostNetwork) File.WriteAllText(pod.HostsPath, Hosts(HostnameOf(pod.Spec, false), pod.Ips));
    }

    static string Hosts(string hostname, IReadOnlyList<string> ips)
    {
        var sb = new StringBuilder();
        sb.AppendLine("127.0.0.1\tlocalhost");
        sb.AppendLine("::1\tlocalhost ip6-localhost ip6-loopback");
        sb.AppendLine("fe00::0\tip6-localnet");
        sb.AppendLine("ff00::0\tip6-mcastprefix");
        sb.AppendLine("ff02::1\tip6-allnodes");
        sb.AppendLine("ff02::2\tip6-allrouters");
        foreach (var ip in ips) sb.AppendLine($"{ip}\t{hostname}");
        return sb.ToString();
    }

    /// <summary>The pod's DNSConfig when given (servers, searches, options), else the host's resolv.conf.</summary>
    public static string ResolvConf(SandboxSpec spec)
    {
        if (spec.DnsServers.Count == 0 && spec.DnsSearches.Count == 0 && spec.DnsOptions.Count == 0)
            return File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "";
        foreach (var v in spec.DnsServers.Concat(spec.DnsSearches).Concat(spec.DnsOptions))
            if (v.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
                throw new InvalidRequestException("config.dns_config", $"'{v}' contains whitespace or control characters");
        var sb = new StringBuilder();
        if (spec.DnsSearches.Count > 0) sb.AppendLine("search " + string.Join(' ', spec.DnsSearches));
        foreach (var s in spec.DnsServers) sb.AppendLine("nameserver " + s);
        if (spec.DnsOptions.Count > 0) sb.AppendLine("options " + string.Join(' ', spec.DnsOptions));
        return sb.ToString();
    }
}
