using CriSharp.Linux;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;

namespace CriSharp.Mechanism.Namespaces;

/// <summary>Bind-mounted namespace files of a pod; null where the pod shares the host's namespace.</summary>
public sealed record PinnedNamespaces(string? NetPath, string? IpcPath, string? UtsPath, string? UserPath = null);

/// <summary>
/// Creates a pod's network, IPC and UTS namespaces and keeps them alive by bind-mounting their nsfs files
/// (util-linux <c>unshare --net=FILE</c>), so no process has to stay in them. Hostname, loopback and sysctls are
/// set by a short shell run inside the new namespaces before it exits. A pod with its own user namespace gets
/// that one first, with its mappings, and network/IPC/UTS namespaces owned by it (see <see cref="PinWithUserNamespaceAsync"/>).
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
        IReadOnlyDictionary<string, string> sysctls, CancellationToken ct = default, UserNamespaceSpec? userns = null)
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

            if (userns is { IsPod: true })
            {
                if (!net || !ipc || !uts)
                    throw new ArgumentException("a pod user namespace needs the pod's own network, IPC and UTS namespaces", nameof(userns));
                return await PinWithUserNamespaceAsync(dir, unshare, userns, ScriptArguments(ip, uts, hostname, settings), ct).ConfigureAwait(false);
            }

            var args = new List<string>();
            foreach (var (flag, path) in new[] { ("--net", netPath), ("--ipc", ipcPath), ("--uts", utsPath) })
            {
                if (path is null) continue;
                using (File.Create(path)) { }
                args.Add($"{flag}={path}");
            }
            args.Add("--");
            args.AddRange(ScriptArguments(ip, uts, hostname, settings));

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

    static List<string> ScriptArguments(string ip, bool uts, string hostname, IReadOnlyList<ValidatedSysctl> settings)
    {
        var args = new List<string> { "/bin/sh", "-c", Script, "sh",
            ip,
            uts && hostname.Length > 0 ? FindProgram("hostname") ?? "" : "",
            uts ? hostname : "",
            settings.Count > 0 ? FindProgram("sysctl") ?? "" : "" };
        foreach (var s in settings) args.AddRange([s.Name, s.ProcPath, s.Value]);
        return args;
    }

    /// <summary>
    /// A user namespace with the pod's mappings and network/IPC/UTS namespaces it owns, all pinned. One unshare(2)
    /// makes the four (the kernel creates the user namespace first, so it owns the others); its process waits on
    /// stdin while we, as host root, write its uid_map/gid_map and bind its nsfs files. Once it is gone, the
    /// settings script runs through nsenter as the namespace's root (mapped now, so it keeps its capabilities;
    /// unshare's own --net=FILE pinning cannot be used: it cannot write a mapping and would exec unmapped).
    /// </summary>
    async Task<PinnedNamespaces> PinWithUserNamespaceAsync(string dir, string unshare, UserNamespaceSpec userns,
        List<string> script, CancellationToken ct)
    {
        var nsenter = FindProgram("nsenter") ?? throw new InvalidOperationException("util-linux nsenter is not installed");
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { "user", "net", "ipc", "uts" })
        {
            paths[name] = Path.Combine(dir, name);
            using (File.Create(paths[name])) { }
        }

        await PinNewAsync(unshare, paths, userns.Uids!, userns.Gids!, ct).ConfigureAwait(false);

        var result = await ProcessRunner.RunAsync(nsenter,
            [$"--user={paths["user"]}", $"--net={paths["net"]}", $"--ipc={paths["ipc"]}", $"--uts={paths["uts"]}", "--", .. script],
            _timeout, ct).ConfigureAwait(false);
        result.ThrowIfFailed($"setting up the pod's namespaces in {dir}");
        return new PinnedNamespaces(paths["net"], paths["ipc"], paths["uts"], paths["user"]);
    }

    /// <summary>
    /// A user namespace with these mappings pinned at <paramref name="path"/> (a file in a private mount, as
    /// <see cref="PinAsync"/> makes): the owner of an idmapped mount whose mappings differ from its pod's.
    /// </summary>
    public async Task PinUserNamespaceAsync(string path, List<IdMapping> uids, List<IdMapping> gids, CancellationToken ct)
    {
        var unshare = FindProgram("unshare") ?? throw new InvalidOperationException("util-linux unshare is not installed");
        using (File.Create(path)) { }
        await PinNewAsync(unshare, new Dictionary<string, string> { ["user"] = path }, uids, gids, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// One unshare(2) of the namespaces named by <paramref name="paths"/>' keys (nsfs names: user, net, ipc, uts);
    /// its process waits on stdin while host root writes the mappings and binds each nsfs file onto its path.
    /// </summary>
    async Task PinNewAsync(string unshare, Dictionary<string, string> paths, List<IdMapping> uids, List<IdMapping> gids, CancellationToken ct)
    {
        var flags = paths.Keys.Select(k => k switch { "user" => "--user", "net" => "--net", "ipc" => "--ipc", "uts" => "--uts", _ => throw new ArgumentException(k) });
        using var holder = ProcessRunner.Start(unshare, [.. flags, "--", "/bin/sh", "-c", "echo ready; read _"]);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_timeout);
            var line = await new StreamReader(holder.Stdout!).ReadLineAsync(timeout.Token).ConfigureAwait(false);
            if (line != "ready")
            {
                var err = await new StreamReader(holder.Stderr!).ReadToEndAsync(timeout.Token).ConfigureAwait(false);
                throw new InvalidOperationException($"unshare {string.Join(' ', flags)} failed: {err.Trim()}");
            }
            // Host root (CAP_SETUID/CAP_SETGID here) may map any range; setgroups stays allowed for the pod.
            File.WriteAllText($"/proc/{holder.Pid}/uid_map", string.Join('\n', uids.Select(m => m.MapLine)) + "\n");
            File.WriteAllText($"/proc/{holder.Pid}/gid_map", string.Join('\n', gids.Select(m => m.MapLine)) + "\n");
            foreach (var (name, path) in paths)
                Mounts.Bind($"/proc/{holder.Pid}/ns/{name}", path);
            holder.Stdin!.Dispose();
            await holder.Exited.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            holder.KillTree();
        }
    }

    /// <summary>Unmounts the pins and the directory bind and deletes the pin files; missing pieces are fine.</summary>
    public void Release(string dir)
    {
        dir = Path.GetFullPath(dir);
        if (!Directory.Exists(dir)) return;
        Mounts.UnmountAllUnder(dir);
        foreach (var name in new[] { "net", "ipc", "uts", "user" })
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
