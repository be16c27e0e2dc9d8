using CriSharp.Linux;

namespace CriSharp.Runtime.Pods;

/// <summary>Bind-mounted namespace files of a pod; null where the pod shares the host's namespace.</summary>
public sealed record PinnedNamespaces(string? NetPath, string? IpcPath, string? UtsPath);

/// <summary>
/// Creates a pod's network, IPC and UTS namespaces and keeps them alive by bind-mounting their nsfs files
/// (util-linux <c>unshare --net=FILE</c>), so no process has to stay in them. Hostname, loopback and sysctls are
/// set by a short shell run inside the new namespaces before it exits.
/// </summary>
public sealed class NamespacePinner(TimeSpan? timeout = null)
{
    readonly TimeSpan _timeout = timeout ?? TimeSpan.FromSeconds(30);

    static readonly string[] SearchDirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    // Positional arguments, never interpolated: $1 ip, $2 hostname program, $3 hostname, $4 sysctl program,
    // then triples (name, /proc/sys-relative path, value).
    const string Script = """
        set -e
        ip=$1; hostname_prog=$2; host=$3; sysctl_prog=$4; shift 4
        if [ -n "$ip" ]; then "$ip" link set lo up; fi
        if [ -n "$host" ]; then
          if [ -n "$hostname_prog" ]; then "$hostname_prog" "$host"; else printf '%s' "$host" > /proc/sys/kernel/hostname; fi
        fi
        while [ $# -ge 3 ]; do
          if [ -n "$sysctl_prog" ]; then "$sysctl_prog" -q -w "$1=$3"; else printf '%s' "$3" > "/proc/sys/$2"; fi
          shift 3
        done
        """;

    /// <summary>
    /// Creates the requested namespaces pinned at <c>dir/net</c>, <c>dir/ipc</c>, <c>dir/uts</c>. On failure
    /// everything is undone and the exception carries the program's stderr. <paramref name="dir"/> should be
    /// dedicated to this pod: it is bind-mounted onto itself (private) and unmounted again by <see cref="Release"/>.
    /// </summary>
    public async Task<PinnedNamespaces> PinAsync(string dir, bool net, bool ipc, bool uts, string hostname,
        IReadOnlyDictionary<string, string> sysctls, CancellationToken ct = default)
    {
        // Validated again here: a net.* or IPC sysctl without its own namespace would change the host.
        var settings = SysctlValidator.Normalize(sysctls, hostNetwork: !net, hostIpc: !ipc);
        if (!net && !ipc && !uts) return new PinnedNamespaces(null, null, null);
        if (uts && hostname.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
            throw new ArgumentException($"invalid hostname '{hostname}'", nameof(hostname));

        var unshare = FindProgram("unshare") ?? throw new InvalidOperationException("util-linux unshare is not installed");
        var ip = net ? FindProgram("ip") ?? throw new InvalidOperationException("iproute2 ip is not installed") : "";

        dir = Path.GetFullPath(dir);
        string? netPath = net ? Path.Combine(dir, "net") : null;
        string? ipcPath = ipc ? Path.Combine(dir, "ipc") : null;
        string? utsPath = uts ? Path.Combine(dir, "uts") : null;
        try
        {
            Directory.CreateDirectory(dir);
            // nsfs bind mounts must not land in a shared mount (they would propagate, and unshare refuses);
            // a private bind of the directory onto itself isolates them whatever the parent is.
            if (!Mounts.IsMountPoint(dir)) Mounts.Bind(dir, dir);
            Mounts.MakePrivate(dir);

            var args = new List<string>();
            foreach (var (flag, path) in new[] { ("--net", netPath), ("--ipc", ipcPath), ("--uts", utsPath) })
            {
                if (path is null) continue;
                using (File.Create(path)) { }
                args.Add($"{flag}={path}");
            }
            args.AddRange(["--", "/bin/sh", "-c", Script, "sh",
                ip,
                uts && hostname.Length > 0 ? FindProgram("hostname") ?? "" : "",
                uts ? hostname : "",
                settings.Count > 0 ? FindProgram("sysctl") ?? "" : ""]);
            foreach (var s in settings) args.AddRange([s.Name, s.ProcPath, s.Value]);

            var result = await ProcessRunner.RunAsync(unshare, args, _timeout, ct).ConfigureAwait(false);
            result.ThrowIfFailed($"pinning namespaces in {dir}");
            return new PinnedNamespaces(netPath, ipcPath, utsPath);
        }
        catch
        {
            try { Release(dir); } catch (Exception) { /* keep the original error */ }
            throw;
        }
    }

    /// <summary>Unmounts the pins and the directory bind and deletes the pin files; missing pieces are fine.</summary>
    public void Release(string dir)
    {
        dir = Path.GetFullPath(dir);
        if (!Directory.Exists(dir)) return;
        Mounts.UnmountAllUnder(dir);
        foreach (var name in new[] { "net", "ipc", "uts" })
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) File.Delete(path);
        }
        try
        {
            if (!Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
        }
        catch (IOException) { /* something else lives there: leave it */ }
    }

    static string? FindProgram(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var d in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(SearchDirs))
        {
            var candidate = Path.Combine(d, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
