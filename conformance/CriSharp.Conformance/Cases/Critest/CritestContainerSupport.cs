using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// What the critest Container, Mount Propagation, Mount Readonly, OOM, Idempotence and Multiple Containers
/// cases share: critest's special pods (privileged, with a log directory), its "pause" container
/// (<c>sh -c top</c>), ExecSync that wants exit 0 and no stderr, start/stop that wait for the state,
/// host directories under the system temp dir that may carry mounts (detached and removed after the case,
/// never deleted while something is still mounted below them), and the HTTP check of a pod's web server.
/// Plain static methods (not extensions) so they cannot clash with other groups' helpers.
/// </summary>
public static class CritestContainerSupport
{
    /// <summary>The line critest's log containers print.</summary>
    public const string DefaultLog = "hello World";

    /// <summary>critest's ExecSync timeout for commands that must succeed.</summary>
    public const long ExecSyncTimeoutSeconds = 30;

    /// <summary>critest's "pause" command for Linux containers.</summary>
    public static readonly string[] PauseCommand = ["sh", "-c", "top"];

    /// <summary>How long a case waits for a container state (critest: a minute; our cases have 30 s in all).</summary>
    public static readonly TimeSpan StateWait = TimeSpan.FromSeconds(20);

    // ---- pods ----

    /// <summary>critest's privileged pod: <c>create-Privileged-PodSandbox-for-container-UUID</c>, security_context.privileged.</summary>
    public static async Task<(string PodId, PodSandboxConfig Config)> PrivilegedPodAsync(CaseContext ctx)
    {
        var config = await ctx.PodConfigAsync("create-Privileged-PodSandbox-for-container-");
        config.Linux.SecurityContext = new LinuxSandboxSecurityContext { Privileged = true };
        return (await ctx.RunCritestPodAsync(config), config);
    }

    /// <summary>
    /// A critest pod config whose log_directory is <c>TMP/podLogTestXXXX/POD-NAME</c> (mode 0777), as critest
    /// makes it; the temp directory is removed after the case (after the pod, which is removed first).
    /// </summary>
    public static async Task<PodSandboxConfig> PodConfigWithLogDirectoryAsync(CaseContext ctx, string namePrefix)
    {
        var config = await ctx.PodConfigAsync(namePrefix);
        var dir = Path.Combine(ctx.TempDirectory("podLogTest"), config.Metadata.Name);
        Directory.CreateDirectory(dir, (UnixFileMode)0b111_111_111);
        config.LogDirectory = dir;
        return config;
    }

    // ---- containers ----

    /// <summary>critest's pause container config: busybox running <c>sh -c top</c>, an empty Linux config.</summary>
    public static ContainerConfig PauseContainer(CaseContext ctx, string namePrefix) =>
        Framework.Critest.ContainerConfig(namePrefix, ctx.Image(CritestImages.Busybox), PauseCommand);

    /// <summary>StartContainer, then wait until ContainerStatus says RUNNING.</summary>
    public static async Task StartRunningAsync(CaseContext ctx, string containerId)
    {
        await ctx.StartAsync(containerId);
        await ctx.WaitContainerStateAsync(containerId, ContainerState.ContainerRunning, StateWait);
    }

    /// <summary>StopContainer with critest's 60 s timeout, then wait until ContainerStatus says EXITED.</summary>
    public static async Task StopExitedAsync(CaseContext ctx, string containerId)
    {
        await ctx.StopAsync(containerId);
        await ctx.WaitContainerStateAsync(containerId, ContainerState.ContainerExited, StateWait);
    }

    /// <summary>ExecSync with a 30 s timeout that must exit 0 with nothing on stderr; returns stdout.</summary>
    public static async Task<string> ExecSyncContainerAsync(CaseContext ctx, string containerId, params string[] command)
    {
        var r = await ctx.ExecAsync(containerId, ExecSyncTimeoutSeconds, command);
        var stdout = r.Stdout.ToStringUtf8();
        var stderr = r.Stderr.ToStringUtf8();
        var shown = string.Join(' ', command);
        if (r.ExitCode != 0)
        {
            throw new CaseFailedException($"ExecSync({shown}) in {containerId} exited {r.ExitCode}: stdout '{stdout}', stderr '{stderr}'");
        }

        Check.Equal("", stderr, $"stderr of ExecSync({shown})");
        return stdout;
    }

    public static async Task<IReadOnlyList<Container>> ListContainersByIdAsync(CaseContext ctx, string containerId)
    {
        var r = await ctx.Runtime.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { Id = containerId } }, ctx.Options);
        return r.Containers;
    }

    /// <summary>Requires every key of <paramref name="expected"/> in <paramref name="actual"/> with the same value.</summary>
    public static void CheckSubset(IReadOnlyDictionary<string, string> expected, IDictionary<string, string> actual, string what)
    {
        foreach (var (key, value) in expected)
        {
            Check.True(actual.TryGetValue(key, out var got) && got == value,
                $"{what}: expected key '{key}' with value '{value}', got {(got is null ? "no such key" : $"'{got}'")}");
        }
    }

    // ---- logs ----

    /// <summary>
    /// The complete lines of a CRI log file (a line still being written is left for the next read); a missing
    /// file reads as no lines; a line not in the CRI format fails the case.
    /// </summary>
    public static async Task<IReadOnlyList<Pods.LogLine>> ReadLogAsync(CaseContext ctx, string path)
    {
        if (!File.Exists(path)) return [];
        var text = await File.ReadAllTextAsync(path, ctx.CancellationToken);
        var end = text.LastIndexOf('\n');
        return end < 0 ? [] : Pods.ParseCriLog(path, text[..(end + 1)]);
    }

    /// <summary>Polls a log file until it has at least one line; returns the lines.</summary>
    public static async Task<IReadOnlyList<Pods.LogLine>> WaitLogLinesAsync(CaseContext ctx, string path, string what)
    {
        IReadOnlyList<Pods.LogLine> lines = [];
        await ctx.EventuallyAsync(what, StateWait, async () => (lines = await ReadLogAsync(ctx, path)).Count > 0);
        return lines;
    }

    // ---- runtime features ----

    /// <summary>
    /// Requires the default handler (named "") in Status.runtime_handlers to advertise
    /// features.recursive_read_only_mounts. critest skips the spec otherwise; here the case fails.
    /// </summary>
    public static async Task RequireRecursiveReadOnlyAsync(CaseContext ctx)
    {
        var status = await ctx.Runtime.StatusAsync(new StatusRequest(), ctx.Options);
        var handler = status.RuntimeHandlers.FirstOrDefault(h => h.Name.Length == 0);
        if (handler?.Features?.RecursiveReadOnlyMounts != true)
        {
            var listed = string.Join(", ", status.RuntimeHandlers.Select(h => $"'{h.Name}': rro={h.Features?.RecursiveReadOnlyMounts ?? false}"));
            throw new CaseFailedException(
                $"the runtime does not advertise recursive read-only mounts for the default handler \"\" (Status.runtime_handlers: [{listed}])");
        }
    }

    // ---- network ----

    /// <summary>
    /// GETs <c>http://POD-IP:PORT/</c> from the node until an answer comes (20 s), then requires status 200.
    /// The pod IP must be a private IPv4 address (RFC 1918 / RFC 6598): the runner contacts nothing else.
    /// </summary>
    public static async Task CheckMainPageAsync(CaseContext ctx, string podId, int containerPort)
    {
        var status = await ctx.PodStatusAsync(podId);
        var network = Check.NotNull(status.Network, $"PodSandboxStatus({podId}).network");
        Check.NotEmpty(network.Ip, $"PodSandboxStatus({podId}).network.ip");
        if (!IPAddress.TryParse(network.Ip, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork || !InPrivateRange(ip.GetAddressBytes()))
        {
            throw new CaseFailedException($"pod IP '{network.Ip}' is not a private IPv4 address (RFC 1918 / RFC 6598); the runner does not contact it");
        }

        var url = $"http://{ip}:{containerPort}/";
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        HttpStatusCode? code = null;
        string? lastError = null;
        var until = DateTime.UtcNow + StateWait;
        while (code is null)
        {
            try
            {
                using var response = await http.GetAsync(url, ctx.CancellationToken);
                code = response.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ctx.CancellationToken.IsCancellationRequested)
            {
                lastError = e.Message;
                if (DateTime.UtcNow > until) throw new CaseFailedException($"GET {url}: no answer within {StateWait.TotalSeconds:0} s ({lastError})");
                await Task.Delay(500, ctx.CancellationToken);
            }
        }

        Check.Equal(HttpStatusCode.OK, code.Value, $"status code of GET {url}");
    }

    private static bool InPrivateRange(byte[] a) => (a[0], a[1]) switch
    {
        (10, _) => true,
        (172, >= 16 and <= 31) => true,
        (192, 168) => true,
        (100, >= 64 and <= 127) => true,
        _ => false,
    };

    // ---- host directories and mounts ----

    public const ulong MsBind = 0x1000;
    public const ulong MsRec = 0x4000;
    public const ulong MsPrivate = 1 << 18;
    public const ulong MsSlave = 1 << 19;
    public const ulong MsShared = 1 << 20;
    private const int MntDetach = 2;
    private const int Einval = 22;
    private const int Enoent = 2;

    /// <summary>
    /// critest's host directory for a case: a new directory <c>TMP/test&lt;podId&gt;XXXX</c>. After the case,
    /// every mount at or below it (host mounts the case made, mounts propagated from a container) is detached,
    /// deepest first, and then it is removed; if a mount cannot be detached it is left in place and the
    /// cleanup fails, so nothing mounted below it is ever deleted.
    /// </summary>
    public static string HostDirectory(CaseContext ctx, string podId)
    {
        var dir = RealPath(Directory.CreateTempSubdirectory("test" + podId).FullName);
        ctx.Defer($"unmount and remove {dir}", _ =>
        {
            DetachMountsUnder(dir);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            return Task.CompletedTask;
        });
        return dir;
    }

    /// <summary>A symlink <c>PATH-symlink</c> to <paramref name="path"/>, removed after the case.</summary>
    public static string Symlink(CaseContext ctx, string path)
    {
        var link = path + "-symlink";
        Directory.CreateSymbolicLink(link, path);
        ctx.Defer($"remove symlink {link}", _ =>
        {
            File.Delete(link);
            return Task.CompletedTask;
        });
        return link;
    }

    /// <summary>mount(2) on the host; fails the case with errno.</summary>
    public static void Mount(string? source, string target, string? fsType, ulong flags)
    {
        if (NativeMount(source, target, fsType, flags, IntPtr.Zero) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new CaseFailedException($"mount({source ?? "NULL"}, {target}, {fsType ?? "NULL"}, 0x{flags:x}) on the host failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    /// <summary>Mount points at or below <paramref name="dir"/> in this process's mount namespace, one entry per mount.</summary>
    public static List<string> MountPointsUnder(string dir)
    {
        var found = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length < 5) continue;
            var point = UnescapeMountinfo(fields[4]);
            if (point == dir || point.StartsWith(dir + "/", StringComparison.Ordinal)) found.Add(point);
        }

        return found;
    }

    private static void DetachMountsUnder(string dir)
    {
        for (var round = 0; ; round++)
        {
            var mounts = MountPointsUnder(dir);
            if (mounts.Count == 0) return;
            if (round == 10)
            {
                throw new CaseFailedException($"mounts remain under {dir} after unmounting: [{string.Join(", ", mounts)}]; {dir} is left in place");
            }

            foreach (var point in mounts.OrderByDescending(p => p.Length))
            {
                if (NativeUmount2(point, MntDetach) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    // EINVAL/ENOENT: already gone with an enclosing mount detached before it.
                    if (errno is not (Einval or Enoent))
                    {
                        throw new CaseFailedException($"umount2({point}, MNT_DETACH) failed: {Marshal.GetPInvokeErrorMessage(errno)}; {dir} is left in place");
                    }
                }
            }
        }
    }

    private static string UnescapeMountinfo(string field)
    {
        if (!field.Contains('\\')) return field;
        var bytes = new List<byte>();
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                bytes.Add(Convert.ToByte(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s[at] is >= '0' and <= '7' && s[at + 1] is >= '0' and <= '7' && s[at + 2] is >= '0' and <= '7';

    private static string RealPath(string path)
    {
        var p = NativeRealPath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) throw new CaseFailedException($"realpath({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            return Marshal.PtrToStringUTF8(p)!;
        }
        finally
        {
            NativeFree(p);
        }
    }

    [DllImport("libc", EntryPoint = "mount", SetLastError = true)]
    private static extern int NativeMount(string? source, string target, string? fsType, ulong flags, IntPtr data);

    [DllImport("libc", EntryPoint = "umount2", SetLastError = true)]
    private static extern int NativeUmount2(string target, int flags);

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr NativeRealPath(string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void NativeFree(IntPtr p);
}
