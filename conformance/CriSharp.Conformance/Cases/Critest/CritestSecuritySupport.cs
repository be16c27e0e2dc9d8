using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// What the critest Security Context cases share: critest's pods (with namespace options, privileged, with a
/// seccomp profile, with a log directory), its "pause" container (<c>sh -c top</c>) with a security context,
/// ExecSync that must succeed without stderr or must fail, waiting for a state, CRI log lines, and the host
/// side effects (a SysV shared memory segment, a listening TCP port, seccomp profile files), each undone after
/// the case. Plain static methods (not extensions) so they cannot clash with other groups' helpers.
/// </summary>
public static class CritestSecuritySupport
{
    /// <summary>critest's "pause" command for Linux containers.</summary>
    public static readonly string[] PauseCommand = ["sh", "-c", "top"];

    /// <summary>critest's ExecSync timeout (seconds).</summary>
    public const long ExecSyncTimeoutSeconds = 30;

    /// <summary>How long a case waits for a container state or a log line (critest: a minute; a case has 30 s in all).</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    // ---- pods ----

    /// <summary>critest's pod with namespace options: an empty DNS config, the options on the pod, optionally a log directory.</summary>
    public static async Task<(string PodId, PodSandboxConfig Config)> NamespacePodAsync(CaseContext ctx, NamespaceOption options, bool withLogDirectory = false)
    {
        var config = await ctx.PodConfigAsync("NamespaceOption-PodSandbox-");
        if (withLogDirectory) config.LogDirectory = LogDirectory(ctx, config.Metadata.Name);
        config.DnsConfig = new DNSConfig();
        config.Linux.SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = options };
        return (await ctx.RunCritestPodAsync(config), config);
    }

    /// <summary>critest's pod with a log directory: <c>PodSandbox-with-log-directory-UUID</c>, logs in <c>TMP/podLogTestXXXX/POD-NAME</c>.</summary>
    public static async Task<(string PodId, PodSandboxConfig Config)> PodWithLogDirectoryAsync(CaseContext ctx)
    {
        var config = await ctx.PodConfigAsync("PodSandbox-with-log-directory-");
        config.LogDirectory = LogDirectory(ctx, config.Metadata.Name);
        return (await ctx.RunCritestPodAsync(config), config);
    }

    /// <summary>critest's log directory for a pod: <c>TMP/podLogTestXXXX/POD-NAME</c> (mode 0777), removed after the case.</summary>
    public static string LogDirectory(CaseContext ctx, string podName)
    {
        var dir = Path.Combine(ctx.TempDirectory("podLogTest"), podName);
        Directory.CreateDirectory(dir, (UnixFileMode)0b111_111_111);
        return dir;
    }

    /// <summary>critest's privileged pod (<c>create-Privileged-PodSandbox-for-container-UUID</c>) with security_context.privileged as given.</summary>
    public static async Task<(string PodId, PodSandboxConfig Config)> PrivilegedPodAsync(CaseContext ctx, bool privileged)
    {
        var config = await ctx.PodConfigAsync("create-Privileged-PodSandbox-for-container-");
        config.Linux.SecurityContext = new LinuxSandboxSecurityContext { Privileged = privileged };
        return (await ctx.RunCritestPodAsync(config), config);
    }

    // ---- containers ----

    /// <summary>A container of critest's busybox running <paramref name="command"/> (default: the pause command) with a security context.</summary>
    public static ContainerConfig Busybox(CaseContext ctx, string namePrefix, LinuxContainerSecurityContext securityContext, params string[] command) =>
        WithSecurity(Critest.ContainerConfig(namePrefix, ctx.Image(CritestImages.Busybox), command.Length == 0 ? PauseCommand : command), securityContext);

    /// <summary>Sets the container's Linux security context.</summary>
    public static ContainerConfig WithSecurity(ContainerConfig config, LinuxContainerSecurityContext securityContext)
    {
        config.Linux.SecurityContext = securityContext;
        return config;
    }

    /// <summary>A container config without a command: the image's own entrypoint and cmd run.</summary>
    public static ContainerConfig ImageDefault(CaseContext ctx, string namePrefix, string critestImage)
    {
        var config = Critest.ContainerConfig(namePrefix, ctx.Image(critestImage));
        config.Command.Clear();
        return config;
    }

    /// <summary>CreateContainer (pulling the image if needed), StartContainer, then wait until RUNNING.</summary>
    public static async Task<string> RunningAsync(CaseContext ctx, string podId, PodSandboxConfig podConfig, ContainerConfig config)
    {
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await ctx.StartAsync(id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerRunning, Wait);
        return id;
    }

    /// <summary>CreateContainer, StartContainer, then wait until EXITED.</summary>
    public static async Task<string> ExitedAsync(CaseContext ctx, string podId, PodSandboxConfig podConfig, ContainerConfig config)
    {
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await ctx.StartAsync(id);
        await ctx.WaitContainerStateAsync(id, ContainerState.ContainerExited, Wait);
        return id;
    }

    /// <summary>critest's execSyncContainer: ExecSync must exit 0 with an empty stderr; returns stdout.</summary>
    public static async Task<string> ExecOkAsync(CaseContext ctx, string containerId, params string[] command) =>
        await ExecOkAsync(ctx, containerId, ExecSyncTimeoutSeconds, command);

    public static async Task<string> ExecOkAsync(CaseContext ctx, string containerId, long timeoutSeconds, params string[] command)
    {
        var r = await ctx.ExecAsync(containerId, timeoutSeconds, command);
        var stdout = r.Stdout.ToStringUtf8();
        var stderr = r.Stderr.ToStringUtf8();
        if (r.ExitCode != 0) throw Check.Fail($"ExecSync({Show(command)}) exited {r.ExitCode}: stdout '{stdout}' stderr '{stderr}'");
        Check.True(stderr.Length == 0, $"ExecSync({Show(command)}) succeeded but wrote to stderr: '{stderr}' (stdout '{stdout}')");
        return stdout;
    }

    /// <summary>ExecSync (30 s) that must run and exit non-zero; returns (stdout, stderr).</summary>
    public static async Task<(string Stdout, string Stderr)> ExecFailsAsync(CaseContext ctx, string containerId, params string[] command)
    {
        var r = await ctx.ExecAsync(containerId, ExecSyncTimeoutSeconds, command);
        var stdout = r.Stdout.ToStringUtf8();
        var stderr = r.Stderr.ToStringUtf8();
        Check.True(r.ExitCode != 0, $"ExecSync({Show(command)}) should fail but exited 0: stdout '{stdout}' stderr '{stderr}'");
        return (stdout, stderr);
    }

    public static string Show(IEnumerable<string> command) => string.Join(' ', command);

    // ---- logs ----

    /// <summary>The container's log file on the host: the pod's log_directory joined with the container's log_path.</summary>
    public static string LogFile(PodSandboxConfig podConfig, ContainerConfig config) => Path.Combine(podConfig.LogDirectory, config.LogPath);

    /// <summary>
    /// critest's verifyLogContents: the container's CRI log gets a line on <paramref name="stream"/> whose content is
    /// exactly <paramref name="content"/> (critest compares the content plus its newline).
    /// </summary>
    public static async Task LogLineAsync(CaseContext ctx, PodSandboxConfig podConfig, ContainerConfig config, string content, string stream = "stdout") =>
        await ctx.WaitLogAsync(LogFile(podConfig, config), lines => lines.Any(l => l.Stream == stream && l.Content == content), Wait);

    // ---- host side effects ----

    /// <summary>Runs a host command (the runner is on the runtime's host); fails the case unless it exits 0; returns stdout.</summary>
    public static async Task<string> HostAsync(CaseContext ctx, string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw Check.Fail($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync(ctx.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(ctx.CancellationToken);
        await p.WaitForExitAsync(ctx.CancellationToken);
        if (p.ExitCode != 0) throw Check.Fail($"host command '{file} {Show(args)}' exited {p.ExitCode}: {await stderr}");
        return await stdout;
    }

    /// <summary>
    /// critest's host shared memory segment: <c>ipcmk -M 1048576</c> on the host; returns the segment id it prints
    /// (<c>Shared memory id: N</c>). The segment is removed (<c>ipcrm -m N</c>) after the case.
    /// </summary>
    public static async Task<string> HostShmSegmentAsync(CaseContext ctx)
    {
        var output = (await HostAsync(ctx, "ipcmk", "-M", "1048576")).Trim();
        const string prefix = "Shared memory id: ";
        Check.True(output.StartsWith(prefix, StringComparison.Ordinal), $"ipcmk -M 1048576 printed '{output}', expected '{prefix}N'");
        var id = output[prefix.Length..].Trim();
        Check.True(id.Length > 0 && id.All(char.IsAsciiDigit), $"ipcmk printed a segment id '{id}' that is not a number");
        ctx.Defer($"ipcrm -m {id}", async _ => await HostAsync(ctx, "ipcrm", "-m", id));
        return id;
    }

    /// <summary>
    /// critest's host service: a TCP listener on every address of the host (port chosen by the kernel) that writes
    /// "hello" to each connection; closed after the case. Returns the port.
    /// </summary>
    public static int HostListener(CaseContext ctx)
    {
        TcpListener listener;
        try
        {
            listener = new TcpListener(IPAddress.IPv6Any, 0);
            listener.Server.DualMode = true;
            listener.Start();
        }
        catch (SocketException)
        {
            listener = new TcpListener(IPAddress.Any, 0);
            listener.Start();
        }

        var cts = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested)
            {
                try
                {
                    using var client = await listener.AcceptTcpClientAsync(cts.Token);
                    await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes("hello"), cts.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
                {
                    if (cts.IsCancellationRequested) return;
                }
            }
        });
        ctx.Defer("close the host TCP listener", async _ =>
        {
            await cts.CancelAsync();
            listener.Stop();
            await accepting;
            cts.Dispose();
        });
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>critest's seccomp profile that lets everything through but <c>sethostname</c>.</summary>
    public const string BlockHostNameProfile = """
        {
             "defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [
                 {
                     "names": ["sethostname"],
                     "action": "SCMP_ACT_ERRNO"
                 }
             ]
        }
        """;

    /// <summary>critest's seccomp profile that lets everything through but <c>chmod</c> and <c>fchmodat</c>.</summary>
    public const string BlockChmodProfile = """
        {
             "defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [
                 {
                     "names": ["chmod", "fchmodat"],
                     "action": "SCMP_ACT_ERRNO"
                 }
             ]
        }
        """;

    /// <summary>
    /// critest's seccomp profiles on the host: a temp directory <c>seccomp-testsXXXX</c> holding
    /// <c>block-host-name.json</c> and <c>block-chmod.json</c> (mode 0644), removed after the case. Returns their absolute paths.
    /// </summary>
    public static (string BlockHostName, string BlockChmod) SeccompProfiles(CaseContext ctx)
    {
        var dir = ctx.TempDirectory("seccomp-tests");
        string Write(string name, string content)
        {
            var path = Path.Combine(dir, name);
            File.WriteAllText(path, content);
            File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
            return path;
        }

        return (Write("block-host-name.json", BlockHostNameProfile), Write("block-chmod.json", BlockChmodProfile));
    }

    /// <summary>A localhost seccomp profile reference.</summary>
    public static SecurityProfile Localhost(string path) =>
        new() { ProfileType = SecurityProfile.Types.ProfileType.Localhost, LocalhostRef = path };

    public static SecurityProfile Unconfined() => new() { ProfileType = SecurityProfile.Types.ProfileType.Unconfined };
}
