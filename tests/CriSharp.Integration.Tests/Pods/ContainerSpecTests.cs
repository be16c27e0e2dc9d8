using System.Text.Json.Nodes;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using CriSharp.TestSupport;
using TestImageConfig = CriSharp.TestSupport.ImageConfig;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>One daemon and one registry (busybox, nonroot and an image with Entrypoint/Cmd/Env/WorkingDir) for the class.</summary>
public sealed class ContainerSpecFixture : IAsyncLifetime
{
    /// <summary>The daemon's CDI spec dirs are CdiRoot/static and CdiRoot/dynamic (in that priority order).</summary>
    public string CdiRoot { get; } = Directory.CreateTempSubdirectory("crisharp-it-cdi-").FullName;
    public DaemonProcess Daemon { get; }

    public ContainerSpecFixture() =>
        Daemon = new DaemonProcess($"[cdi]\nspec_dirs = [\"{CdiRoot}/static\", \"{CdiRoot}/dynamic\"]\n");
    public RegistryFixture Registry { get; private set; } = null!;
    public RuntimeService.RuntimeServiceClient Runtime { get; private set; } = null!;
    public string Busybox { get; private set; } = null!;
    public string NonRoot { get; private set; } = null!;
    /// <summary>busybox with Entrypoint ["echo", "ep"], Cmd ["from-cmd"], Env FROM_IMAGE/OVERRIDE, WorkingDir /tmp.</summary>
    public string Custom { get; private set; } = null!;
    public string LogDir => Path.Combine(Daemon.Dir, "logs");
    /// <summary>busybox plus a layer with /data/hello.txt, for image volumes (a test may remove it: it pulls it first).</summary>
    public string VolumeImage { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Registry = await RegistryFixture.Anonymous();
        var pushes = await Task.WhenAll(TestImages.PushAsync(Registry, TestImages.Busybox), TestImages.PushAsync(Registry, TestImages.NonRoot));
        Busybox = pushes[0][0].Reference;
        NonRoot = pushes[1][0].Reference;
        var custom = OciImage.Create([.. TestImages.Get(TestImages.Busybox).Layers], new TestImageConfig
        {
            Env = [TestImageConfig.DefaultPath, "FROM_IMAGE=image", "OVERRIDE=image"],
            Entrypoint = ["echo", "ep"],
            Cmd = ["from-cmd"],
            WorkingDir = "/tmp",
        });
        using (var client = new RegistryClient(Registry.BaseUri, null))
            await client.PushImageAsync("crisharp-test/spec-custom", custom, ["latest"], CancellationToken.None);
        Custom = $"{Registry.Host}/crisharp-test/spec-custom:latest";
        var volume = OciImage.Create([.. TestImages.Get(TestImages.Busybox).Layers,
            new LayerBuilder().Directory("data").File("data/hello.txt", "hello from the image volume\n").Symlink("data/up", "../../..").Build()],
            new TestImageConfig { Cmd = ["sh"] });
        using (var client = new RegistryClient(Registry.BaseUri, null))
            await client.PushImageAsync("crisharp-test/spec-volume", volume, ["latest"], CancellationToken.None);
        VolumeImage = $"{Registry.Host}/crisharp-test/spec-volume:latest";

        await Daemon.StartServingAsync();
        Runtime = new RuntimeService.RuntimeServiceClient(Daemon.Channel());
        var images = new ImageService.ImageServiceClient(Daemon.Channel());
        foreach (var image in new[] { Busybox, NonRoot, Custom })
            await images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } });
    }

    public async Task DisposeAsync()
    {
        var leftovers = Mounts.ReadMountInfo().Where(m => m.MountPoint.StartsWith(Daemon.Dir, StringComparison.Ordinal)).ToList();
        Daemon.Dispose();
        await Registry.DisposeAsync();
        Directory.Delete(CdiRoot, recursive: true);
        foreach (var m in leftovers) Mounts.Unmount(m.MountPoint, detach: true);
    }
}

/// <summary>
/// What a container sees from the inside (users, capabilities, seccomp, masked paths, mounts and propagation,
/// cgroup limits, OOM, PID namespace, pod files, env and command rules), read from its logged output, on
/// both runtime handlers.
/// </summary>
public sealed partial class ContainerSpecTests(ContainerSpecFixture f) : IClassFixture<ContainerSpecFixture>
{
    const string DefaultCapMask = "00000000a80425fb";
    static int _podCounter;

    RuntimeService.RuntimeServiceClient Rt => f.Runtime;

    // ---- helpers -------------------------------------------------------------------------------------------

    sealed record Pod(string Id, PodSandboxConfig Config);

    async Task<Pod> RunPod(string name, string handler, Action<PodSandboxConfig>? edit = null)
    {
        name = $"{name}-{handler}-{Interlocked.Increment(ref _podCounter)}";
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Uid = Guid.NewGuid().ToString(), Namespace = "spec" },
            Hostname = name,
            LogDirectory = Path.Combine(f.LogDir, name),
            DnsConfig = new DNSConfig { Servers = { "10.0.0.10" }, Searches = { "spec.svc.cluster.local" }, Options = { "ndots:5" } },
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Pod } },
            },
        };
        edit?.Invoke(config);
        var id = (await Rt.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler })).PodSandboxId;
        return new Pod(id, config);
    }

    async Task RemovePod(Pod pod) => await Rt.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod.Id });

    ContainerConfig Sh(string name, string script, string? image = null) => new()
    {
        Metadata = new ContainerMetadata { Name = name },
        Image = new ImageSpec { Image = image ?? f.Busybox },
        Command = { "sh", "-c", script },
        LogPath = name + ".log",
    };

    ContainerConfig Plain(string name, string image) => new()
    {
        Metadata = new ContainerMetadata { Name = name },
        Image = new ImageSpec { Image = image },
        LogPath = name + ".log",
    };

    static LinuxContainerSecurityContext Sec(ContainerConfig c)
    {
        c.Linux ??= new LinuxContainerConfig();
        return c.Linux.SecurityContext ??= new LinuxContainerSecurityContext();
    }

    async Task<string> CreateAndStart(Pod pod, ContainerConfig c)
    {
        var id = (await Rt.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod.Id, Config = c, SandboxConfig = pod.Config })).ContainerId;
        await Rt.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    async Task<ContainerStatus> Status(string id, bool verbose = false) =>
        (await Rt.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = verbose })).Status;

    async Task<ContainerStatus> WaitExited(string id, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var s = await Status(id);
            if (s.State == ContainerState.ContainerExited) return s;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"container {id} is {s.State}, not exited\n{f.Daemon.Stderr}");
            await Task.Delay(50);
        }
    }

    /// <summary>The text of the CRI log (stdout and stderr), partial lines joined.</summary>
    static List<string> ReadLog(string path)
    {
        var result = new List<string>();
        if (!File.Exists(path)) return result;
        var partial = "";
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            var parts = line.Split(' ', 4);
            if (parts.Length < 3) continue;
            var text = parts.Length == 4 ? parts[3] : "";
            if (parts[2] == "P") { partial += text; continue; }
            result.Add(partial + text);
            partial = "";
        }
        return result;
    }

    /// <summary>Creates and starts every container in the pod, waits for all to exit, returns each one's status and output.</summary>
    async Task<Dictionary<string, (ContainerStatus Status, List<string> Output)>> RunAll(Pod pod, params ContainerConfig[] configs)
    {
        var ids = new List<(string Name, string Id)>();
        foreach (var c in configs) ids.Add((c.Metadata.Name, await CreateAndStart(pod, c)));
        var result = new Dictionary<string, (ContainerStatus, List<string>)>();
        foreach (var (name, id) in ids)
        {
            var s = await WaitExited(id);
            result[name] = (s, ReadLog(s.LogPath));
        }
        return result;
    }

    async Task<List<string>> WaitForLog(string id, Func<List<string>, bool> done, int seconds = 15)
    {
        var path = (await Status(id)).LogPath;
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var lines = ReadLog(path);
            if (done(lines)) return lines;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"log of {id} never matched:\n{string.Join('\n', lines)}");
            await Task.Delay(50);
        }
    }

    static string Field(List<string> output, string prefix) =>
        output.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..].Trim()
        ?? throw new Xunit.Sdk.XunitException($"no line starting with \"{prefix}\" in:\n{string.Join('\n', output)}");

    static string HostCapBnd() => File.ReadAllLines("/proc/self/status").Single(l => l.StartsWith("CapBnd:", StringComparison.Ordinal))["CapBnd:".Length..].Trim();

    const string StatusScript = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status";

    // ---- 1. users and groups ---------------------------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Users_and_groups_come_from_the_image_and_the_security_context(string handler)
    {
        var pod = await RunPod("users", handler);
        try
        {
            var image = Plain("image-user", f.NonRoot);
            var explicitIds = Sh("explicit", "echo u=$(id -u); echo g=$(id -g); echo G=$(id -G)");
            Sec(explicitIds).RunAsUser = new Int64Value { Value = 1234 };
            Sec(explicitIds).RunAsGroup = new Int64Value { Value = 5678 };
            Sec(explicitIds).SupplementalGroups.Add(42);
            var strict = Plain("strict", f.NonRoot);
            Sec(strict).SupplementalGroupsPolicy = SupplementalGroupsPolicy.Strict;

            var r = await RunAll(pod, image, explicitIds, strict);
            Assert.Contains("uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)", r["image-user"].Output);
            Assert.Equal("1234", Field(r["explicit"].Output, "u="));
            Assert.Equal("5678", Field(r["explicit"].Output, "g="));
            Assert.Equal(["42", "5678"], Field(r["explicit"].Output, "G=").Split(' ').Order(StringComparer.Ordinal));
            Assert.Contains("uid=1000(app) gid=1000(app) groups=1000(app)", r["strict"].Output);
            // ContainerStatus reports what the process got.
            var user = r["explicit"].Status.User.Linux;
            Assert.Equal((1234L, 5678L), (user.Uid, user.Gid));
            Assert.Contains(42L, user.SupplementalGroups);
        }
        finally { await RemovePod(pod); }
    }

    // ---- 2. capabilities -------------------------------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Capabilities_default_add_and_drop(string handler)
    {
        var pod = await RunPod("caps", handler);
        try
        {
            var add = Sh("add", StatusScript);
            Sec(add).Capabilities = new Capability { AddCapabilities = { "NET_ADMIN" } };
            var drop = Sh("drop", StatusScript);
            Sec(drop).Capabilities = new Capability { DropCapabilities = { "ALL" } };
            var r = await RunAll(pod, Sh("default", StatusScript), add, drop);

            Assert.Equal(DefaultCapMask, Field(r["default"].Output, "CapEff:"));
            Assert.Equal((0xa80425fbUL | 1UL << 12).ToString("x16"), Field(r["add"].Output, "CapEff:"));
            Assert.Equal("0000000000000000", Field(r["drop"].Output, "CapEff:"));
        }
        finally { await RemovePod(pod); }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_privileged_container_gets_every_capability_and_no_seccomp(string handler)
    {
        var pod = await RunPod("priv", handler, p => p.Linux.SecurityContext.Privileged = true);
        try
        {
            var c = Sh("priv", StatusScript + "; echo keys-mounts=$(grep -c ' /proc/keys ' /proc/self/mountinfo)");
            Sec(c).Privileged = true;
            Sec(c).Seccomp = new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.RuntimeDefault };
            var r = await RunAll(pod, c);
            // Everything the daemon itself may have: its bounding set is what a runtime can grant.
            Assert.Equal(HostCapBnd(), Field(r["priv"].Output, "CapEff:"));
            Assert.Equal("0", Field(r["priv"].Output, "Seccomp:"));
            Assert.Equal("0", Field(r["priv"].Output, "keys-mounts=")); // nothing masked
        }
        finally { await RemovePod(pod); }
    }

    // ---- 3. no_new_privs, seccomp and 12. oom_score_adj ------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task No_new_privs_seccomp_and_oom_score_adj(string handler)
    {
        var pod = await RunPod("nnp", handler);
        try
        {
            var strict = Sh("strict", StatusScript);
            Sec(strict).NoNewPrivs = true;
            Sec(strict).Seccomp = new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.RuntimeDefault };
            var unconfined = Sh("unconfined", StatusScript);
            Sec(unconfined).Seccomp = new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.Unconfined };
            var oom = Sh("oomadj", "echo adj=$(cat /proc/self/oom_score_adj)");
            oom.Linux = new LinuxContainerConfig { Resources = new LinuxContainerResources { OomScoreAdj = 500 } };

            var r = await RunAll(pod, strict, unconfined, Sh("default", StatusScript), oom);
            Assert.Equal("1", Field(r["strict"].Output, "NoNewPrivs:"));
            Assert.Equal("2", Field(r["strict"].Output, "Seccomp:"));
            Assert.Equal(DefaultCapMask, Field(r["strict"].Output, "CapEff:"));
            Assert.Equal("0", Field(r["unconfined"].Output, "NoNewPrivs:"));
            Assert.Equal("0", Field(r["unconfined"].Output, "Seccomp:"));
            Assert.Equal("0", Field(r["default"].Output, "NoNewPrivs:"));
            Assert.Equal("0", Field(r["default"].Output, "Seccomp:"));
            Assert.Equal("500", Field(r["oomadj"].Output, "adj="));
        }
        finally { await RemovePod(pod); }
    }

    // ---- 4. read-only rootfs and 6. CRI mounts ----------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Readonly_rootfs_and_readonly_and_writable_mounts(string handler)
    {
        var rw = Directory.CreateTempSubdirectory("crisharp-spec-rw-").FullName;
        var ro = Directory.CreateTempSubdirectory("crisharp-spec-ro-").FullName;
        File.WriteAllText(Path.Combine(ro, "given"), "from host\n");
        var pod = await RunPod("rofs", handler);
        try
        {
            var c = Sh("rofs", """
                touch /x 2>&1 || echo touch-root-failed
                echo written > /data/out && echo data-write-ok
                cat /ro/given
                touch /ro/y 2>&1 || echo touch-ro-failed
                grep -E ' /(data|ro) ' /proc/self/mountinfo
                """);
            Sec(c).ReadonlyRootfs = true;
            c.Mounts.Add(new Mount { ContainerPath = "/data", HostPath = rw });
            c.Mounts.Add(new Mount { ContainerPath = "/ro", HostPath = ro, Readonly = true });
            var output = (await RunAll(pod, c))["rofs"].Output;

            Assert.Contains("touch-root-failed", output);
            Assert.Contains(output, l => l.Contains("/x") && l.Contains("Read-only file system"));
            Assert.Contains("data-write-ok", output);
            Assert.Equal("written\n", File.ReadAllText(Path.Combine(rw, "out")));
            Assert.Contains("from host", output);
            Assert.Contains("touch-ro-failed", output);
            Assert.Contains(output, l => l.Contains("/ro/y") && l.Contains("Read-only file system"));
            Assert.False(File.Exists(Path.Combine(ro, "y")));
            // mountinfo: "<id> <parent> <dev> <root> <mountpoint> <options> ..."
            Assert.Contains(output, l => l.Split(' ') is [_, _, _, _, "/ro", var o, ..] && o.Split(',').Contains("ro"));
            Assert.Contains(output, l => l.Split(' ') is [_, _, _, _, "/data", var o, ..] && o.Split(',').Contains("rw"));
        }
        finally
        {
            await RemovePod(pod);
            Directory.Delete(rw, recursive: true);
            Directory.Delete(ro, recursive: true);
        }
    }

    // ---- 5. masked and read-only kernel paths ----------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Kernel_paths_are_masked_and_readonly_in_pods_without_a_user_namespace(string handler)
    {
        const string script = """
            echo keys=$(stat -c '%t:%T' /proc/keys)
            echo keys-mounts=$(grep -c ' /proc/keys ' /proc/self/mountinfo)
            echo timer-list-bytes=$(wc -c < /proc/timer_list)
            echo procsys-mounts=$(grep -c ' /proc/sys ' /proc/self/mountinfo)
            (echo x > /proc/sys/kernel/domainname) 2>&1 || echo procsys-write-failed
            """;
        var pod = await RunPod("masked", handler);
        try
        {
            // kubelet's default proc mount: the runtime's default lists, sent explicitly.
            var kubeletDefault = Sh("kubelet-default", script);
            Sec(kubeletDefault).MaskedPaths.Add(["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]);
            Sec(kubeletDefault).ReadonlyPaths.Add(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
            // kubelet's Unmasked proc mount (explicit empty lists) outside a pod user namespace: the defaults stay
            // (kubelet's rule; Unmasked_proc_is_honoured_only_in_a_pod_user_namespace covers the other side).
            var unmasked = Sh("unmasked", "echo keys-mounts=$(grep -c ' /proc/keys ' /proc/self/mountinfo); echo procsys-mounts=$(grep -c ' /proc/sys ' /proc/self/mountinfo); echo timer-list-bytes=$(wc -c < /proc/timer_list)");
            _ = Sec(unmasked);

            var r = await RunAll(pod, Sh("no-context", script), kubeletDefault, unmasked);
            foreach (var name in new[] { "no-context", "kubelet-default" })
            {
                var output = r[name].Output;
                // (/proc/kcore is masked too, but kernels without CONFIG_PROC_KCORE have none: /proc/keys and
                // /proc/timer_list are on every kernel.) /dev/null is bound over a masked file.
                Assert.Equal("1:3", Field(output, "keys="));
                Assert.Equal("1", Field(output, "keys-mounts="));
                Assert.Equal("0", Field(output, "timer-list-bytes="));
                Assert.NotEqual("0", Field(output, "procsys-mounts="));
                Assert.Contains("procsys-write-failed", output);
                Assert.Contains(output, l => l.Contains("Read-only file system"));
            }
            Assert.Equal("1", Field(r["unmasked"].Output, "keys-mounts="));
            Assert.Equal("0", Field(r["unmasked"].Output, "timer-list-bytes="));
            Assert.NotEqual("0", Field(r["unmasked"].Output, "procsys-mounts="));
        }
        finally { await RemovePod(pod); }
    }

    // ---- 6. mount propagation --------------------------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task HostToContainer_propagation_shows_host_mounts_made_after_start(string handler)
    {
        var dir = Directory.CreateTempSubdirectory("crisharp-spec-prop-").FullName;
        var sub = Path.Combine(dir, "sub");
        Directory.CreateDirectory(sub);
        // A shared mount of its own, so mounts below it propagate to slaves whatever the host's / is.
        Mounts.Bind(dir, dir);
        Mounts.MakeShared(dir);
        var pod = await RunPod("prop", handler);
        try
        {
            var c = Sh("prop", """
                echo started
                i=0
                while [ ! -f /prop/sub/marker ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
                cat /prop/sub/marker 2>/dev/null || echo no-marker
                echo priv-entries=$(ls /priv/sub | wc -l)
                echo prop-mounts=$(grep -c ' /prop/sub ' /proc/self/mountinfo)
                """);
            c.Mounts.Add(new Mount { ContainerPath = "/prop", HostPath = dir, Propagation = MountPropagation.PropagationHostToContainer });
            c.Mounts.Add(new Mount { ContainerPath = "/priv", HostPath = dir, Propagation = MountPropagation.PropagationPrivate });
            var id = await CreateAndStart(pod, c);
            await WaitForLog(id, l => l.Contains("started"));

            Mounts.MountTmpfs(sub, 1024 * 1024);
            File.WriteAllText(Path.Combine(sub, "marker"), "marker from host\n");
            var s = await WaitExited(id);
            var output = ReadLog(s.LogPath);
            Assert.Contains("marker from host", output);
            Assert.Equal("0", Field(output, "priv-entries="));
            Assert.Equal("1", Field(output, "prop-mounts="));
        }
        finally
        {
            await RemovePod(pod);
            Mounts.Unmount(sub, detach: true);
            Mounts.Unmount(dir, detach: true);
            Directory.Delete(dir, recursive: true);
        }
    }

    // ---- 7. cgroup limits ------------------------------------------------------------------------------------

    static string HostCgroupFile(string controller, string cgroupsPath, string file) =>
        File.ReadAllText(Path.Combine("/sys/fs/cgroup", controller, cgroupsPath.TrimStart('/'), file)).Trim();

    async Task<string> CgroupsPath(string id)
    {
        var info = (await Rt.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true })).Info["info"];
        return JsonNode.Parse(info)!["runtimeSpec"]!["linux"]!["cgroupsPath"]!.GetValue<string>();
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Cgroup_limits_apply_inside_and_on_the_host_and_can_be_updated(string handler)
    {
        var pod = await RunPod("cgroup", handler);
        try
        {
            var c = Sh("limits", """
                echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
                echo shares=$(cat /sys/fs/cgroup/cpu/cpu.shares)
                echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
                echo period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
                old=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
                while sleep 0.05; do
                  v=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
                  [ "$v" != "$old" ] && echo newmem=$v && old=$v
                done
                """);
            c.Linux = new LinuxContainerConfig
            {
                Resources = new LinuxContainerResources { MemoryLimitInBytes = 64L << 20, CpuShares = 512, CpuQuota = 50000, CpuPeriod = 100000 },
            };
            var id = await CreateAndStart(pod, c);
            var output = await WaitForLog(id, l => l.Any(x => x.StartsWith("period=", StringComparison.Ordinal)));
            Assert.Equal((64L << 20).ToString(), Field(output, "mem="));
            Assert.Equal("512", Field(output, "shares="));
            Assert.Equal("50000", Field(output, "quota="));
            Assert.Equal("100000", Field(output, "period="));

            var cgroup = await CgroupsPath(id);
            Assert.Equal((64L << 20).ToString(), HostCgroupFile("memory", cgroup, "memory.limit_in_bytes"));
            Assert.Equal("512", HostCgroupFile("cpu", cgroup, "cpu.shares"));
            Assert.Equal("50000", HostCgroupFile("cpu", cgroup, "cpu.cfs_quota_us"));

            await Rt.UpdateContainerResourcesAsync(new UpdateContainerResourcesRequest
            {
                ContainerId = id,
                Linux = new LinuxContainerResources { MemoryLimitInBytes = 128L << 20, CpuShares = 512, CpuQuota = 50000, CpuPeriod = 100000 },
            });
            Assert.Equal((128L << 20).ToString(), HostCgroupFile("memory", cgroup, "memory.limit_in_bytes"));
            Assert.Equal(128L << 20, (await Status(id)).Resources.Linux.MemoryLimitInBytes);
            output = await WaitForLog(id, l => l.Any(x => x.StartsWith("newmem=", StringComparison.Ordinal)));
            Assert.Equal((128L << 20).ToString(), Field(output, "newmem="));
        }
        finally { await RemovePod(pod); }
    }

    // ---- 8. OOM ----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_container_over_its_memory_limit_is_OOMKilled(string handler)
    {
        var pod = await RunPod("oom", handler);
        try
        {
            var c = Sh("hog", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}");
            c.Linux = new LinuxContainerConfig { Resources = new LinuxContainerResources { MemoryLimitInBytes = 32L << 20 } };
            var (status, output) = (await RunAll(pod, c))["hog"];
            Assert.DoesNotContain(output, l => l.StartsWith("survived", StringComparison.Ordinal));
            Assert.Equal("OOMKilled", status.Reason);
            Assert.Equal(137, status.ExitCode);
        }
        finally { await RemovePod(pod); }
    }

    // ---- 9. PID namespace ------------------------------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_shared_pid_namespace_has_catatonit_as_pid_1(string handler)
    {
        var pod = await RunPod("pidns", handler, p => p.Linux.SecurityContext.NamespaceOptions.Pid = NamespaceMode.Pod);
        try
        {
            const string script = "echo pid=$$; echo init=$(tr '\\0' ' ' < /proc/1/cmdline)";
            var shared = Sh("shared", script);
            Sec(shared).NamespaceOptions = new NamespaceOption { Pid = NamespaceMode.Pod };
            var own = Sh("own", script);
            Sec(own).NamespaceOptions = new NamespaceOption { Pid = NamespaceMode.Container };

            var r = await RunAll(pod, shared, own);
            Assert.NotEqual("1", Field(r["shared"].Output, "pid="));
            Assert.Equal("/catatonit -P", Field(r["shared"].Output, "init="));
            Assert.Equal("1", Field(r["own"].Output, "pid="));
            Assert.Equal("sh -c " + script, Field(r["own"].Output, "init="));
        }
        finally { await RemovePod(pod); }
    }

    // ---- 10. pod files and /dev/shm --------------------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Hostname_hosts_resolv_conf_and_a_shared_dev_shm_come_from_the_pod(string handler)
    {
        var pod = await RunPod("podfiles", handler);
        try
        {
            var writer = Sh("writer", """
                echo host=$(hostname)
                echo etc-hostname=$(cat /etc/hostname)
                cat /etc/hosts /etc/resolv.conf
                grep ' /dev/shm ' /proc/self/mountinfo
                echo shared-data > /dev/shm/marker
                """);
            var first = await RunAll(pod, writer);
            var output = first["writer"].Output;
            var hostname = pod.Config.Hostname;
            Assert.Equal(hostname, Field(output, "host="));
            Assert.Equal(hostname, Field(output, "etc-hostname="));
            Assert.Contains("127.0.0.1\tlocalhost", output);
            Assert.Contains("nameserver 10.0.0.10", output);
            Assert.Contains("search spec.svc.cluster.local", output);
            Assert.Contains("options ndots:5", output);
            Assert.Contains(output, l => l.Contains(" /dev/shm ") && l.Contains(" - tmpfs ") && l.Contains("size=65536k"));

            var second = await RunAll(pod, Sh("reader", "cat /dev/shm/marker"));
            Assert.Contains("shared-data", second["reader"].Output);
        }
        finally { await RemovePod(pod); }
    }

    // ---- 11. env, working dir, command and args --------------------------------------------------------------

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Env_working_dir_and_command_args_follow_kubernetes_rules(string handler)
    {
        var pod = await RunPod("env", handler);
        try
        {
            var env = Sh("env", "echo vars=$FROM_IMAGE,$OVERRIDE,$FROM_CRI; echo hostname-env=$HOSTNAME; echo path=$PATH; echo pwd=$(pwd)", f.Custom);
            env.Envs.Add(new KeyValue { Key = "OVERRIDE", Value = "cri" });
            env.Envs.Add(new KeyValue { Key = "FROM_CRI", Value = "cri" });
            var workdir = Sh("workdir", "echo pwd=$(pwd)", f.Custom);
            workdir.WorkingDir = "/home";

            var imageDefault = Plain("image-default", f.Custom);               // Entrypoint + Cmd
            var argsOnly = Plain("args-only", f.Custom);                       // Entrypoint + args
            argsOnly.Args.Add(["a1", "a2"]);
            var commandOnly = Plain("command-only", f.Custom);                 // command, image Cmd dropped
            commandOnly.Command.Add(["echo", "cmd"]);
            var both = Plain("command-args", f.Custom);                        // command + args
            both.Command.Add(["echo", "cmd"]);
            both.Args.Add("arg");
            var nonrootCmd = Plain("nonroot-args", f.NonRoot);                  // no Entrypoint: args replace Cmd
            nonrootCmd.Args.Add(["echo", "replaced-cmd"]);

            var r = await RunAll(pod, env, workdir, imageDefault, argsOnly, commandOnly, both, nonrootCmd);
            Assert.Equal("image,cri,cri", Field(r["env"].Output, "vars="));
            Assert.Equal(pod.Config.Hostname, Field(r["env"].Output, "hostname-env="));
            Assert.Equal("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", Field(r["env"].Output, "path="));
            Assert.Equal("/tmp", Field(r["env"].Output, "pwd="));
            Assert.Equal("/home", Field(r["workdir"].Output, "pwd="));
            Assert.Equal(["ep from-cmd"], r["image-default"].Output);
            Assert.Equal(["ep a1 a2"], r["args-only"].Output);
            Assert.Equal(["cmd"], r["command-only"].Output);
            Assert.Equal(["cmd arg"], r["command-args"].Output);
            Assert.Equal(["replaced-cmd"], r["nonroot-args"].Output);
        }
        finally { await RemovePod(pod); }
    }
}
