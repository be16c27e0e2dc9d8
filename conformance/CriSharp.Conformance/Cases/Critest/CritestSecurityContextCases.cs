using System.Text.RegularExpressions;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using static CriSharp.Conformance.Cases.CritestSecuritySupport;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0's "Security Context" specs (pkg/validate/security_context_linux.go) but the user-namespace
/// ones (CritestUserNamespaceCases): pod and container namespaces (host PID/IPC/network against the host, pod and container PID
/// namespaces against nginx's PID 1), users and groups, a read-only rootfs, privileged containers and
/// capabilities (brctl, ping, CapBnd), masked and read-only paths, SupplementalGroupsPolicy, seccomp
/// profiles (Seccomp: in /proc/self/status, localhost profiles blocking chmod or sethostname) and
/// no_new_privs against a setuid binary. Requests are shaped as critest makes them (Framework/Critest.cs).
/// Where critest skips (SupplementalGroupsPolicy not advertised), the case fails.
/// </summary>
[CaseArea("critest Security Context")]
public sealed class CritestSecurityContextCases
{
    // ---- NamespaceOption ----

    [Case("NamespaceOption :: runtime should support HostPID")]
    public async Task HostPid(CaseContext ctx)
    {
        var ns = new NamespaceOption { Pid = NamespaceMode.Node, Ipc = NamespaceMode.Pod, Network = NamespaceMode.Pod };
        var (podId, pod) = await NamespacePodAsync(ctx, ns);

        var nginx = WithSecurity(ImageDefault(ctx, "nginx-container-hostpid-", CritestImages.Nginx), new LinuxContainerSecurityContext { NamespaceOptions = ns });
        var nginxId = await RunningAsync(ctx, podId, pod, nginx);
        var nginxPid = (await ExecOkAsync(ctx, nginxId, 15, "sh", "-c", "while [ ! -f /var/run/nginx.pid ]; do sleep 1; done && cat /var/run/nginx.pid")).Trim();
        Check.True(nginxPid.Length > 0 && nginxPid.All(char.IsAsciiDigit), $"/var/run/nginx.pid holds '{nginxPid}', not a pid");

        var busybox = Busybox(ctx, "container-with-HostPID-test-", new LinuxContainerSecurityContext { NamespaceOptions = ns }, "sh", "-c", "sleep 1000");
        var busyboxId = await RunningAsync(ctx, podId, pod, busybox);
        // critest passes "|| true" as arguments of pidof, not to a shell.
        var pids = (await ExecOkAsync(ctx, busyboxId, "pidof", "nginx", "||", "true")).Trim();
        Check.True(pids.Length > 0, "pidof nginx in a host-PID container found no nginx: nginx's pid should be seen by hostpid containers");
        Check.True(pids.Contains(nginxPid, StringComparison.Ordinal),
            $"pidof nginx in a host-PID container printed '{pids}', which lacks nginx's pid {nginxPid} (its /var/run/nginx.pid)");
    }

    [Case("NamespaceOption :: runtime should support HostIpc is true")]
    public Task HostIpcTrue(CaseContext ctx) => HostIpcAsync(ctx, NamespaceMode.Node);

    [Case("NamespaceOption :: runtime should support HostIpc is false")]
    public Task HostIpcFalse(CaseContext ctx) => HostIpcAsync(ctx, NamespaceMode.Pod);

    private static async Task HostIpcAsync(CaseContext ctx, NamespaceMode mode)
    {
        var segment = await HostShmSegmentAsync(ctx);
        var ns = new NamespaceOption { Pid = NamespaceMode.Pod, Ipc = mode, Network = NamespaceMode.Pod };
        var (podId, pod) = await NamespacePodAsync(ctx, ns);
        var id = await RunningAsync(ctx, podId, pod, Busybox(ctx, "namespace-container-", new LinuxContainerSecurityContext { NamespaceOptions = ns }));

        var output = await ExecOkAsync(ctx, id, "ipcs", "-m");
        if (mode == NamespaceMode.Node)
            Check.True(output.Contains(segment, StringComparison.Ordinal),
                $"ipcs -m in a host-IPC container does not list the host's shared memory segment {segment}: '{output}'");
        else
            Check.True(!output.Contains(segment, StringComparison.Ordinal),
                $"ipcs -m in a pod-IPC container lists the host's shared memory segment {segment}: '{output}'");
    }

    [Case("NamespaceOption :: runtime should support PodPID")]
    public async Task PodPid(CaseContext ctx)
    {
        var id = await NginxWithPidNamespaceAsync(ctx, NamespaceMode.Pod, "nginx-container-process-namespace-");

        await Task.Delay(TimeSpan.FromSeconds(1), ctx.CancellationToken); // critest gives nginx a second to come up
        var cmdline = await ExecOkAsync(ctx, id, "cat", "/proc/1/cmdline");
        Check.True(!cmdline.Contains("master process", StringComparison.Ordinal),
            $"with a pod PID namespace, PID 1 of the nginx container is nginx itself ('{cmdline.Replace('\0', ' ')}'); it should be the pod's init process");
    }

    [Case("NamespaceOption :: runtime should support ContainerPID")]
    public async Task ContainerPid(CaseContext ctx)
    {
        var id = await NginxWithPidNamespaceAsync(ctx, NamespaceMode.Container, "nginx-container-pid-");

        // Loops until PID 1 is nginx's master process; the ExecSync timeout ends it when PID 1 is something else.
        await ExecOkAsync(ctx, id, 15, "sh", "-c", """while ! cat /proc/1/cmdline | grep "master process"; do sleep 1; done""");
    }

    /// <summary>A pod whose namespace options set only the PID mode, and critest's nginx in it with the same options, running.</summary>
    private static async Task<string> NginxWithPidNamespaceAsync(CaseContext ctx, NamespaceMode pid, string namePrefix)
    {
        var ns = new NamespaceOption { Pid = pid };
        var (podId, pod) = await NamespacePodAsync(ctx, ns);
        var nginx = WithSecurity(ImageDefault(ctx, namePrefix, CritestImages.Nginx), new LinuxContainerSecurityContext { NamespaceOptions = ns });
        return await RunningAsync(ctx, podId, pod, nginx);
    }

    [Case("NamespaceOption :: runtime should support HostNetwork is true")]
    public Task HostNetworkTrue(CaseContext ctx) => HostNetworkAsync(ctx, hostNetwork: true);

    [Case("NamespaceOption :: runtime should support HostNetwork is false")]
    public Task HostNetworkFalse(CaseContext ctx) => HostNetworkAsync(ctx, hostNetwork: false);

    private static async Task HostNetworkAsync(CaseContext ctx, bool hostNetwork)
    {
        var port = HostListener(ctx);
        var ns = new NamespaceOption { Pid = NamespaceMode.Pod, Ipc = NamespaceMode.Pod, Network = hostNetwork ? NamespaceMode.Node : NamespaceMode.Pod };
        var (podId, pod) = await NamespacePodAsync(ctx, ns, withLogDirectory: true);
        var config = Busybox(ctx, "container-with-HostNetwork-test-", new LinuxContainerSecurityContext { NamespaceOptions = ns }, "sh", "-c", "netstat -ln");
        config.LogPath = config.Metadata.Name + ".log";
        var id = await ctx.CreateCritestContainerAsync(podId, pod, config);
        await ctx.StartAsync(id);

        var portSuffix = ":" + port;
        bool Listed(IReadOnlyList<Pods.LogLine> lines) => lines.Any(l => l.Content.Contains(portSuffix, StringComparison.Ordinal));
        if (hostNetwork)
        {
            await ctx.WaitLogAsync(LogFile(pod, config), Listed, Wait);
            return;
        }

        // netstat prints its UNIX socket table after the internet one: once that header is there, the TCP list is complete.
        var all = await ctx.WaitLogAsync(LogFile(pod, config),
            lines => lines.Any(l => l.Content.StartsWith("Active UNIX domain sockets", StringComparison.Ordinal)), Wait);
        Check.True(!Listed(all),
            $"netstat -ln in a pod-network container lists the host's listening port {port}: '{string.Join("\\n", all.Select(l => l.Content))}'");
    }

    // ---- bucket ----

    [Case("bucket :: runtime should support SupplementalGroups")]
    public async Task SupplementalGroups(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod,
            Busybox(ctx, "container-with-SupplementalGroups-test-", new LinuxContainerSecurityContext { SupplementalGroups = { 1234, 5678 } }));
        var groups = (await ExecOkAsync(ctx, id, "id", "-G")).Trim().Split(' ');
        foreach (var g in new[] { "1234", "5678" })
            Check.True(groups.Contains(g), $"id -G gives [{string.Join(' ', groups)}], without supplemental group {g}");
    }

    [Case("bucket :: runtime should support RunAsUser")]
    public async Task RunAsUser(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod,
            Busybox(ctx, "container-with-RunAsUser-test-", new LinuxContainerSecurityContext { RunAsUser = new Int64Value { Value = 1001 } }));
        Check.Equal("1001\n", await ExecOkAsync(ctx, id, "id", "-u"), "id -u with run_as_user 1001");
    }

    [Case("bucket :: runtime should support RunAsUserName")]
    public async Task RunAsUserName(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod,
            Busybox(ctx, "container-with-RunAsUserName-test-", new LinuxContainerSecurityContext { RunAsUsername = "nobody" }));
        Check.Equal("nobody\n", await ExecOkAsync(ctx, id, "id", "-nu"), "id -nu with run_as_username nobody");
    }

    [Case("bucket :: runtime should support RunAsGroup")]
    public async Task RunAsGroup(CaseContext ctx)
    {
        var (podId, pod) = await PodWithLogDirectoryAsync(ctx);
        var config = Busybox(ctx, "container-with-RunAsGroup-test-",
            new LinuxContainerSecurityContext { RunAsUser = new Int64Value { Value = 1001 }, RunAsGroup = new Int64Value { Value = 1002 } },
            "sh", "-c", "echo $(id -u):$(id -g)");
        config.LogPath = config.Metadata.Name + ".log";
        await ExitedAsync(ctx, podId, pod, config);
        await LogLineAsync(ctx, pod, config, "1001:1002");
    }

    [Case("bucket :: runtime should return error if RunAsGroup is set without RunAsUser")]
    public async Task RunAsGroupWithoutUser(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var config = Busybox(ctx, "container-with-RunAsGroup-without-RunAsUser-test-",
            new LinuxContainerSecurityContext { RunAsGroup = new Int64Value { Value = 1002 } }, "sh", "-c", "echo $(id -u):$(id -g)");
        var (id, error) = await ctx.TryCreateContainerAsync(podId, pod, config);
        Check.True(error is not null, $"CreateContainer with run_as_group 1002 but no run_as_user succeeded (container {id}); it must fail");
    }

    [Case("bucket :: runtime should support that ReadOnlyRootfs is false")]
    public Task ReadOnlyRootfsFalse(CaseContext ctx) => ReadOnlyRootfsAsync(ctx, false);

    [Case("bucket :: runtime should support that ReadOnlyRootfs is true")]
    public Task ReadOnlyRootfsTrue(CaseContext ctx) => ReadOnlyRootfsAsync(ctx, true);

    private static async Task ReadOnlyRootfsAsync(CaseContext ctx, bool readOnly)
    {
        var (podId, pod) = await PodWithLogDirectoryAsync(ctx);
        var config = Busybox(ctx, $"container-with-ReadOnlyRootfs-{(readOnly ? "true" : "false")}-test-",
            new LinuxContainerSecurityContext { ReadonlyRootfs = readOnly }, "sh", "-c", "touch test.go && [ -f test.go ] && echo 'Found'");
        config.LogPath = config.Metadata.Name + ".log";
        await ExitedAsync(ctx, podId, pod, config);
        if (readOnly) await LogLineAsync(ctx, pod, config, "touch: test.go: Read-only file system", "stderr");
        else await LogLineAsync(ctx, pod, config, "Found");
    }

    [Case("bucket :: runtime should support Privileged is true")]
    public Task PrivilegedTrue(CaseContext ctx) => PrivilegedAsync(ctx, true);

    [Case("bucket :: runtime should support Privileged is false")]
    public Task PrivilegedFalse(CaseContext ctx) => PrivilegedAsync(ctx, false);

    private static async Task PrivilegedAsync(CaseContext ctx, bool privileged)
    {
        var (podId, pod) = await PrivilegedPodAsync(ctx, privileged);
        var id = await RunningAsync(ctx, podId, pod, Busybox(ctx, privileged ? "container-with-isPrivileged-test-" : "container-with-notPrivileged-test-",
            new LinuxContainerSecurityContext { Privileged = privileged }));
        await NetworkManagementAsync(ctx, id, manageable: privileged);
    }

    /// <summary>critest's checkNetworkManagement: <c>brctl addbr foobar</c> works only with CAP_NET_ADMIN.</summary>
    private static async Task NetworkManagementAsync(CaseContext ctx, string containerId, bool manageable)
    {
        var r = await ctx.ExecAsync(containerId, ExecSyncTimeoutSeconds, "brctl", "addbr", "foobar");
        var what = $"brctl addbr foobar: exit {r.ExitCode}, stdout '{r.Stdout.ToStringUtf8()}', stderr '{r.Stderr.ToStringUtf8()}'";
        Check.True(manageable ? r.ExitCode == 0 : r.ExitCode != 0, manageable ? $"{what}; it should succeed" : $"{what}; it should fail");
    }

    [Case("bucket :: runtime should support adding capability")]
    public async Task AddCapability(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var withCap = await RunningAsync(ctx, podId, pod, Busybox(ctx, "container-with-added-capability-test-",
            new LinuxContainerSecurityContext { Capabilities = new Capability { AddCapabilities = { "NET_ADMIN" } } }));
        await NetworkManagementAsync(ctx, withCap, manageable: true);

        var plain = await ctx.CreateDefaultContainerAsync(podId, pod, "container-with-notCapability-test-");
        await ctx.StartAsync(plain);
        await ctx.WaitContainerStateAsync(plain, ContainerState.ContainerRunning, Wait);
        await NetworkManagementAsync(ctx, plain, manageable: false);
    }

    [Case("bucket :: runtime should support dropping capability")]
    public async Task DropCapability(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod, Busybox(ctx, "container-with-dropped-capability-test-",
            new LinuxContainerSecurityContext { Capabilities = new Capability { DropCapabilities = { "NET_RAW" } } }));
        var (stdout, stderr) = await ExecFailsAsync(ctx, id, "ping", "127.0.0.1");
        Check.True(stdout.Length > 0, $"ping 127.0.0.1 without NET_RAW printed nothing on stdout (stderr '{stderr}')");
        Check.True(stderr.Contains("permission denied", StringComparison.Ordinal),
            $"ping 127.0.0.1 without NET_RAW: stderr '{stderr}' lacks 'permission denied' (stdout '{stdout}')");
    }

    [Case("bucket :: runtime should support adding ALL capabilities")]
    public Task AddAllCapabilities(CaseContext ctx) => AllCapabilitiesAsync(ctx, add: true);

    [Case("bucket :: runtime should support dropping ALL capabilities")]
    public Task DropAllCapabilities(CaseContext ctx) => AllCapabilitiesAsync(ctx, add: false);

    private static readonly Regex NoBoundingCaps = new(@"CapBnd:\s0000000000000000", RegexOptions.CultureInvariant);

    private static async Task AllCapabilitiesAsync(CaseContext ctx, bool add)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var caps = new Capability();
        (add ? caps.AddCapabilities : caps.DropCapabilities).Add("ALL");
        var id = await RunningAsync(ctx, podId, pod, Busybox(ctx, add ? "container-with-added-all-capability-test-" : "container-with-dropped-all-capability-test-",
            new LinuxContainerSecurityContext { Capabilities = caps }));
        var status = await ExecOkAsync(ctx, id, "cat", "/proc/self/status");
        var bounding = status.Split('\n').FirstOrDefault(l => l.StartsWith("CapBnd:", StringComparison.Ordinal)) ?? "(no CapBnd line)";
        if (add)
            Check.True(!NoBoundingCaps.IsMatch(status), $"with add_capabilities ALL the bounding set is empty: '{bounding}'");
        else
            Check.True(NoBoundingCaps.IsMatch(status), $"with drop_capabilities ALL the bounding set is not empty: '{bounding}'");
    }

    [Case("bucket :: runtime should support MaskedPaths")]
    public async Task MaskedPaths(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod, Busybox(ctx, "container-with-maskedpaths",
            new LinuxContainerSecurityContext { MaskedPaths = { "/bin/ls" } }));
        var (_, stderr) = await ExecFailsAsync(ctx, id, "/bin/sh", "-c", "ls");
        Check.Equal("/bin/sh: ls: Permission denied\n", stderr, "stderr of /bin/sh -c ls with /bin/ls masked");
    }

    [Case("bucket :: runtime should support ReadonlyPaths")]
    public async Task ReadonlyPaths(CaseContext ctx)
    {
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod, Busybox(ctx, "container-with-readonlypaths",
            new LinuxContainerSecurityContext { ReadonlyPaths = { "/tmp" } }));
        var (_, stderr) = await ExecFailsAsync(ctx, id, "touch", "/tmp/test");
        Check.Equal("touch: /tmp/test: Read-only file system\n", stderr, "stderr of touch /tmp/test with /tmp read-only");
    }

    // ---- SupplementalGroupsPolicy ----

    [Case("SupplementalGroupsPolicy / when SupplementalGroupsPolicy=Merge (Default) :: if the container's primary UID belongs to some groups in the image, runtime should add SupplementalGroups to them")]
    public Task SupplementalGroupsPolicyMerge(CaseContext ctx) => SupplementalGroupsPolicyAsync(ctx, SupplementalGroupsPolicy.Merge, [1000, 1234, 50000]);

    [Case("SupplementalGroupsPolicy / when SupplementalGroupsPolicy=Strict :: even if the container's primary UID belongs to some groups in the image, runtime should not add SupplementalGroups to them")]
    public Task SupplementalGroupsPolicyStrict(CaseContext ctx) => SupplementalGroupsPolicyAsync(ctx, SupplementalGroupsPolicy.Strict, [1000, 1234]);

    /// <summary>
    /// The predefined-group image's user default-user (uid 1000, primary group 1000) is a member of
    /// group-defined-in-image (50000) in its /etc/group; run as 1000 with supplemental group 1234, the process
    /// gets <paramref name="expected"/> (Merge adds the image's groups, Strict does not), reported by
    /// ContainerStatus.user and seen by the first process and by exec.
    /// </summary>
    private static async Task SupplementalGroupsPolicyAsync(CaseContext ctx, SupplementalGroupsPolicy policy, long[] expected)
    {
        var status = await ctx.Runtime.StatusAsync(new StatusRequest(), ctx.Options);
        Check.True(status.Features?.SupplementalGroupsPolicy == true,
            "the runtime does not advertise StatusResponse.features.supplemental_groups_policy (critest skips; kubelet needs it for SupplementalGroupsPolicy)");

        var (podId, pod) = await PodWithLogDirectoryAsync(ctx);
        // critest names the container ...Merge- for both policies.
        var config = WithSecurity(Critest.ContainerConfig("container-with-SupplementalGroupsPolicyMerge-", ctx.Image(CritestImages.PredefinedGroup), "sh", "-c", "id -G; sleep infinity"),
            new LinuxContainerSecurityContext { RunAsUser = new Int64Value { Value = 1000 }, SupplementalGroups = { 1234 }, SupplementalGroupsPolicy = policy });
        config.LogPath = config.Metadata.Name + ".log";
        var id = await RunningAsync(ctx, podId, pod, config);

        var user = (await ctx.ContainerStatusAsync(id)).User?.Linux;
        Check.True(user is not null, "ContainerStatus.user.linux is missing");
        Check.Equal(1000L, user!.Uid, "ContainerStatus.user.linux.uid");
        Check.Equal(1000L, user.Gid, "ContainerStatus.user.linux.gid");
        Check.Equal(string.Join(' ', expected), string.Join(' ', user.SupplementalGroups.Order()), "ContainerStatus.user.linux.supplemental_groups (sorted)");

        var groups = string.Join(' ', expected);
        await LogLineAsync(ctx, pod, config, groups);
        Check.Equal(groups + "\n", await ExecOkAsync(ctx, id, "id", "-G"), "id -G in an exec");
    }

    // ---- SeccompProfilePath ----

    [Case("SeccompProfilePath :: should support seccomp unconfined on the container")]
    public async Task SeccompUnconfined(CaseContext ctx)
    {
        SeccompProfiles(ctx);
        var id = await SeccompContainerAsync(ctx, Unconfined());
        await SeccompModeAsync(ctx, id, "0");
    }

    [Case("SeccompProfilePath :: should support seccomp localhost profile on the container")]
    public async Task SeccompLocalhost(CaseContext ctx)
    {
        var (_, blockChmod) = SeccompProfiles(ctx);
        var id = await SeccompContainerAsync(ctx, Localhost(blockChmod));
        var (stdout, stderr) = await ExecFailsAsync(ctx, id, "chmod", "400", "/");
        Check.True(stderr.Contains("Operation not permitted", StringComparison.Ordinal),
            $"chmod 400 / under a profile blocking chmod: stderr '{stderr}' lacks 'Operation not permitted' (stdout '{stdout}')");
    }

    [Case("SeccompProfilePath :: should support seccomp default on the container")]
    public async Task SeccompDefault(CaseContext ctx)
    {
        SeccompProfiles(ctx);
        var id = await SeccompContainerAsync(ctx, new SecurityProfile());
        await SeccompModeAsync(ctx, id, "2");
    }

    [Case("SeccompProfilePath :: should support nil profile, which is unconfined")]
    public async Task SeccompNil(CaseContext ctx)
    {
        SeccompProfiles(ctx);
        var id = await SeccompContainerAsync(ctx, null);
        await SeccompModeAsync(ctx, id, "0");
    }

    /// <summary>critest's seccompTestContainer: the profile on a <c>seccomp-sandbox-UUID</c> pod and on its pause container, running.</summary>
    private static async Task<string> SeccompContainerAsync(CaseContext ctx, SecurityProfile? profile)
    {
        var pod = await ctx.PodConfigAsync("seccomp-sandbox-");
        pod.Linux.SecurityContext = new LinuxSandboxSecurityContext { Seccomp = profile?.Clone() };
        var podId = await ctx.RunCritestPodAsync(pod);
        return await RunningAsync(ctx, podId, pod,
            Busybox(ctx, "seccomp-container-" + Critest.Uuid(), new LinuxContainerSecurityContext { Seccomp = profile?.Clone() }));
    }

    /// <summary><c>grep Seccomp: /proc/self/status</c> succeeds and gives the mode: 0 disabled, 2 filter.</summary>
    private static async Task SeccompModeAsync(CaseContext ctx, string containerId, string mode)
    {
        var line = await ExecOkAsync(ctx, containerId, "grep", "Seccomp:", "/proc/self/status");
        Check.Equal($"Seccomp: {mode}", string.Join(' ', line.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries)),
            "grep Seccomp: /proc/self/status (0 = no seccomp, 2 = a filter)");
    }

    [Case("SeccompProfilePath :: runtime should not block setting host name with unconfined seccomp and SYS_ADMIN")]
    public async Task SeccompUnconfinedSysAdmin(CaseContext ctx)
    {
        SeccompProfiles(ctx);
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod, SetHostnameContainer(ctx, Unconfined(), ["SYS_ADMIN"], privileged: false));
        await SetHostnameAsync(ctx, id, settable: true);
    }

    [Case("SeccompProfilePath :: runtime should support an seccomp profile that blocks setting hostname with SYS_ADMIN")]
    public async Task SeccompBlockHostnameSysAdmin(CaseContext ctx)
    {
        var (blockHostName, _) = SeccompProfiles(ctx);
        var (podId, pod) = await ctx.PodForContainerAsync();
        var id = await RunningAsync(ctx, podId, pod, SetHostnameContainer(ctx, Localhost(blockHostName), ["SYS_ADMIN"], privileged: false));
        await SetHostnameAsync(ctx, id, settable: false);
    }

    [Case("SeccompProfilePath :: runtime should ignore a seccomp profile that blocks setting hostname when privileged")]
    public async Task SeccompIgnoredWhenPrivileged(CaseContext ctx)
    {
        var (blockHostName, _) = SeccompProfiles(ctx);
        var (podId, pod) = await PrivilegedPodAsync(ctx, true);
        var id = await RunningAsync(ctx, podId, pod, SetHostnameContainer(ctx, Localhost(blockHostName), [], privileged: true));
        await SetHostnameAsync(ctx, id, settable: true);
    }

    /// <summary>critest's createSeccompContainer: busybox running <c>sleep 60</c> with the profile, added capabilities and privileged flag.</summary>
    private static ContainerConfig SetHostnameContainer(CaseContext ctx, SecurityProfile profile, string[] addCapabilities, bool privileged)
    {
        var security = new LinuxContainerSecurityContext { Privileged = privileged, Capabilities = new Capability(), Seccomp = profile };
        security.Capabilities.AddCapabilities.AddRange(addCapabilities);
        return Busybox(ctx, "container-with-block-hostname-seccomp-profile-test-", security, "sleep", "60");
    }

    /// <summary>critest's checkSetHostname: <c>hostname ANewHostName</c> succeeds or fails.</summary>
    private static async Task SetHostnameAsync(CaseContext ctx, string containerId, bool settable)
    {
        var r = await ctx.ExecAsync(containerId, ExecSyncTimeoutSeconds, "hostname", "ANewHostName");
        var what = $"hostname ANewHostName: exit {r.ExitCode}, stdout '{r.Stdout.ToStringUtf8()}', stderr '{r.Stderr.ToStringUtf8()}'";
        Check.True(settable ? r.ExitCode == 0 : r.ExitCode != 0, settable ? $"{what}; it should succeed" : $"{what}; sethostname should be blocked");
    }

    // ---- NoNewPrivs ----

    [Case("NoNewPrivs :: should not allow privilege escalation when true")]
    public Task NoNewPrivsTrue(CaseContext ctx) => NoNewPrivsAsync(ctx, "alpine-nnp-true-", true, "Effective uid: 1000");

    [Case("NoNewPrivs :: should allow privilege escalation when false")]
    public Task NoNewPrivsFalse(CaseContext ctx) => NoNewPrivsAsync(ctx, "alpine-nnp-false-", false, "Effective uid: 0");

    /// <summary>The nonewprivs image's setuid-root entrypoint, run as uid 1000, prints the effective uid it got.</summary>
    private static async Task NoNewPrivsAsync(CaseContext ctx, string namePrefix, bool noNewPrivs, string expected)
    {
        var (podId, pod) = await PodWithLogDirectoryAsync(ctx);
        var config = WithSecurity(ImageDefault(ctx, namePrefix, CritestImages.NoNewPrivs),
            new LinuxContainerSecurityContext { NoNewPrivs = noNewPrivs, RunAsUser = new Int64Value { Value = 1000 } });
        config.LogPath = config.Metadata.Name + ".log";
        await ExitedAsync(ctx, podId, pod, config);
        await LogLineAsync(ctx, pod, config, expected);
    }
}
