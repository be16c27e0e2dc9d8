using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>
/// Pods with their own user namespace (userns_options POD, kubelet's hostUsers: false) on both handlers: the
/// mapping inside, image files owned by root inside and never chowned on disk, writes landing as the mapped ids,
/// idmapped volumes, what CAP_SYS_ADMIN in the namespace cannot reach, and the requests that are refused.
/// </summary>
public sealed partial class ContainerSpecTests
{
    // Distinct per handler, so a mix-up between the two pods would show.
    static uint HostBase(string handler) => handler == "runc" ? 200000u : 300000u;

    static UserNamespace PodUserns(uint hostId, uint length = 65536) => new()
    {
        Mode = NamespaceMode.Pod,
        Uids = { new IDMapping { ContainerId = 0, HostId = hostId, Length = length } },
        Gids = { new IDMapping { ContainerId = 0, HostId = hostId, Length = length } },
    };

    Task<Pod> RunUsernsPod(string name, string handler, UserNamespace userns) => RunPod(name, handler, c =>
        c.Linux.SecurityContext.NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Pod, UsernsOptions = userns });

    static void AddIdmap(Mount m, UserNamespace userns)
    {
        m.UidMappings.Add(userns.Uids);
        m.GidMappings.Add(userns.Gids);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_pod_user_namespace_maps_ids_and_idmaps_layers_and_volumes_without_chowning(string handler)
    {
        var hostBase = HostBase(handler);
        var userns = PodUserns(hostBase);
        var plain = Directory.CreateTempSubdirectory("crisharp-userns-plain-").FullName;
        File.SetUnixFileMode(plain, (UnixFileMode)0x1FF); // 0777: the pod's root is an ordinary user here
        var mapped = Directory.CreateTempSubdirectory("crisharp-userns-idmap-").FullName;
        File.WriteAllText(Path.Combine(mapped, "rootfile"), "host root's");
        var layersDir = Path.Combine(f.Daemon.Dir, "root", "layers");
        var layersBefore = Directory.GetDirectories(layersDir).Length;
        var pod = await RunUsernsPod("userns", handler, userns);
        try
        {
            var c = Sh("ids", """
                echo "uidmap: $(cat /proc/self/uid_map)"
                echo "gidmap: $(cat /proc/self/gid_map)"
                echo "id: $(id -u) $(id -g)"
                echo "busybox: $(stat -c '%u %g' /bin/busybox)"
                echo "hosts: $(stat -c '%u %g' /etc/hosts)"
                echo "shm: $(stat -c '%u %g' /dev/shm)"
                echo "rootfile: $(stat -c '%u %g' /mapped/rootfile)"
                echo layer > /written-in-layer && echo "hosts-write: $(echo 10.1.1.1 extra >> /etc/hosts && echo ok)"
                echo plain > /plain/by-root && echo mapped > /mapped/by-root && touch /dev/shm/s && echo wrote
                """);
            c.Mounts.Add(new Mount { ContainerPath = "/plain", HostPath = plain });
            var idmapped = new Mount { ContainerPath = "/mapped", HostPath = mapped };
            AddIdmap(idmapped, userns);
            c.Mounts.Add(idmapped);
            var id = await CreateAndStart(pod, c);
            var status = await WaitExited(id);
            var output = ReadLog(status.LogPath);
            Assert.Equal(0, status.ExitCode);
            Assert.Equal($"0 {hostBase} 65536", string.Join(' ', Field(output, "uidmap:").Split(' ', StringSplitOptions.RemoveEmptyEntries)));
            Assert.Equal($"0 {hostBase} 65536", string.Join(' ', Field(output, "gidmap:").Split(' ', StringSplitOptions.RemoveEmptyEntries)));
            Assert.Equal("0 0", Field(output, "id:"));
            // Image files and the pod's own files appear owned by root inside...
            Assert.Equal("0 0", Field(output, "busybox:"));
            Assert.Equal("0 0", Field(output, "hosts:"));
            Assert.Equal("0 0", Field(output, "shm:"));
            Assert.Equal("ok", Field(output, "hosts-write:"));
            // ...and so does a host-root file on a volume mounted with the pod's mappings.
            Assert.Equal("0 0", Field(output, "rootfile:"));
            Assert.Contains("wrote", output);

            // On the host: what the container's root wrote belongs to the mapped uid, except through the idmapped volume.
            var upper = Path.Combine(f.Daemon.Dir, "root", "containers", id, "upper");
            Assert.Equal(hostBase, FileMetadata.Lstat(Path.Combine(upper, "written-in-layer")).Uid);
            Assert.Equal(hostBase, FileMetadata.Lstat(Path.Combine(plain, "by-root")).Uid);
            Assert.Equal(hostBase, FileMetadata.Lstat(Path.Combine(plain, "by-root")).Gid);
            Assert.Equal(0u, FileMetadata.Lstat(Path.Combine(mapped, "by-root")).Uid);
            // The layers stay as unpacked (root-owned, one copy): nothing was chowned or copied for the pod.
            Assert.Equal(layersBefore, Directory.GetDirectories(layersDir).Length);
            foreach (var layer in Directory.GetDirectories(layersDir))
            {
                var busybox = Path.Combine(layer, "bin", "busybox");
                if (File.Exists(busybox)) Assert.Equal(0u, FileMetadata.Lstat(busybox).Uid);
            }
            // No idmapped clone outlives the create.
            Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.MountPoint.Contains("/idmap", StringComparison.Ordinal) && m.MountPoint.StartsWith(f.Daemon.Dir, StringComparison.Ordinal));
        }
        finally
        {
            await RemovePod(pod);
            Directory.Delete(plain, recursive: true);
            Directory.Delete(mapped, recursive: true);
        }
        Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.MountPoint.Contains(pod.Id, StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(f.Daemon.Dir, "state", "pods", pod.Id)));
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Two_pods_with_different_mappings_share_the_image_layers(string handler)
    {
        var layersDir = Path.Combine(f.Daemon.Dir, "root", "layers");
        var layersBefore = Directory.GetDirectories(layersDir).Length;
        var a = await RunUsernsPod("userns-a", handler, PodUserns(HostBase(handler) + 100000));
        var b = await RunUsernsPod("userns-b", handler, PodUserns(HostBase(handler) + 200000));
        try
        {
            var outA = (await RunAll(a, Sh("a", "cat /proc/self/uid_map; stat -c 'owner %u' /bin/busybox")))["a"].Output;
            var outB = (await RunAll(b, Sh("b", "cat /proc/self/uid_map; stat -c 'owner %u' /bin/busybox")))["b"].Output;
            Assert.Contains(outA, l => l.Contains($"{HostBase(handler) + 100000}"));
            Assert.Contains(outB, l => l.Contains($"{HostBase(handler) + 200000}"));
            Assert.Contains("owner 0", outA);
            Assert.Contains("owner 0", outB);
            Assert.Equal(layersBefore, Directory.GetDirectories(layersDir).Length);
        }
        finally
        {
            await RemovePod(a);
            await RemovePod(b);
        }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Sys_admin_in_a_pod_user_namespace_gains_nothing_on_the_host(string handler)
    {
        var hostBase = HostBase(handler);
        var hostName = File.ReadAllText("/proc/sys/kernel/hostname");
        var pod = await RunUsernsPod("userns-admin", handler, PodUserns(hostBase));
        try
        {
            var c = Sh("admin", """
                mount -o remount,rw /proc/sys 2>/dev/null
                (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null && echo drop-caches-written || echo drop-caches-denied
                (mknod /tmp/disk b 8 0) 2>/dev/null && echo mknod-made || echo mknod-denied
                hostname changed-by-pod && echo "pod-hostname: $(hostname)"
                mkdir -p /tmp/m && unshare -m sh -c 'mount -t tmpfs t /tmp/m && echo inner-mount-ok'
                echo "$(grep CapEff /proc/self/status)"
                sleep 30
                """);
            Sec(c).Capabilities = new Capability { AddCapabilities = { "SYS_ADMIN" } };
            var id = await CreateAndStart(pod, c);
            var output = await WaitForLog(id, l => l.Any(x => x.StartsWith("CapEff", StringComparison.Ordinal)));
            Assert.Contains("drop-caches-denied", output);
            Assert.Contains("mknod-denied", output);
            Assert.Contains("pod-hostname: changed-by-pod", output);
            Assert.Contains("inner-mount-ok", output);
            // The capability is real inside (bit 21), and nothing of it reached the host:
            Assert.NotEqual(0UL, Convert.ToUInt64(Field(output, "CapEff:"), 16) & (1UL << 21));
            Assert.Equal(hostName, File.ReadAllText("/proc/sys/kernel/hostname"));
            // The tmpfs its root mounted (source "t") exists only in the container's own mount namespace.
            Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.Source == "t" && m.FsType == "tmpfs");
            // The host sees the container's root as the mapped uid.
            var pid = await ProcessOf(id);
            var uidLine = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            Assert.Equal(hostBase.ToString(), uidLine.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        finally
        {
            await RemovePod(pod);
        }
    }

    async Task<int> ProcessOf(string id)
    {
        var info = (await Rt.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true })).Info["info"];
        return System.Text.Json.JsonDocument.Parse(info).RootElement.GetProperty("pid").GetInt32();
    }

    [Fact]
    public async Task Unsupported_user_namespace_requests_are_refused_naming_the_field_and_leave_nothing()
    {
        var podsDir = Path.Combine(f.Daemon.Dir, "state", "pods");
        var podsBefore = Directory.GetDirectories(podsDir).Length;
        int DaemonMounts() => Mounts.ReadMountInfo().Count(m => m.MountPoint.StartsWith(f.Daemon.Dir + "/", StringComparison.Ordinal));
        var mountsBefore = DaemonMounts();
        var two = PodUserns(1000, 100000);
        two.Uids.Add(new IDMapping { ContainerId = 0, HostId = 2000, Length = 100000 });
        two.Gids.Add(new IDMapping { ContainerId = 0, HostId = 2000, Length = 100000 });
        var cases = new (UserNamespace Userns, NamespaceMode Network, string Field)[]
        {
            (new UserNamespace { Mode = NamespaceMode.Container }, NamespaceMode.Pod, "userns_options.mode"),
            (new UserNamespace { Mode = NamespaceMode.Target }, NamespaceMode.Pod, "userns_options.mode"),
            (two, NamespaceMode.Pod, "userns_options.uids"),
            (new UserNamespace { Mode = NamespaceMode.Pod, Uids = { new IDMapping { ContainerId = 1, HostId = 1000, Length = 100000 } }, Gids = { new IDMapping { ContainerId = 1, HostId = 1000, Length = 100000 } } },
                NamespaceMode.Pod, "userns_options.uids[0].container_id"),
            (PodUserns(0), NamespaceMode.Pod, "userns_options.uids[0].host_id"),
            (new UserNamespace { Mode = NamespaceMode.Pod }, NamespaceMode.Pod, "userns_options.uids"),
            (new UserNamespace { Mode = NamespaceMode.Node, Uids = { new IDMapping { ContainerId = 0, HostId = 1000, Length = 1 } } }, NamespaceMode.Pod, "userns_options.uids"),
            (PodUserns(400000), NamespaceMode.Node, "userns_options"),
        };
        foreach (var (userns, network, field) in cases)
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => RunPod("userns-bad", "runc", c =>
                c.Linux.SecurityContext.NamespaceOptions = new NamespaceOption { Network = network, UsernsOptions = userns }));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains(field, e.Status.Detail);
        }

        // Containers: userns_options different from the pod's, and mappings on a mount of a pod without one.
        var pod = await RunUsernsPod("userns-ctr", "runc", PodUserns(500000));
        var hostPod = await RunPod("userns-none", "runc");
        var ramfs = Directory.CreateTempSubdirectory("crisharp-userns-ramfs-").FullName;
        Mounts.Mount("ramfs", ramfs, "ramfs", MountFlags.None);
        try
        {
            var other = Sh("other", "true");
            Sec(other).NamespaceOptions = new NamespaceOption { UsernsOptions = PodUserns(600000) };
            await ExpectInvalid(pod, other, "userns_options");
            // Mappings on a mount of a pod without a user namespace.
            await ExpectInvalid(hostPod, WithIdmappedMount("on-host", ramfs), "config.mounts[0].uid_mappings");
            // ramfs cannot be idmapped: a clear error naming the mount and its file system, and no half-made container.
            var e = await ExpectInvalid(pod, WithIdmappedMount("ram", ramfs), "config.mounts[0]");
            Assert.Contains("ramfs", e.Status.Detail);
            Assert.Empty((await Rt.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { PodSandboxId = pod.Id } })).Containers);
            Assert.DoesNotContain(Directory.GetDirectories(Path.Combine(f.Daemon.Dir, "state", "containers")), d => Directory.Exists(Path.Combine(d, "idmap")));
        }
        finally
        {
            await RemovePod(pod);
            await RemovePod(hostPod);
            Mounts.Unmount(ramfs);
            Directory.Delete(ramfs);
        }
        Assert.Equal(podsBefore, Directory.GetDirectories(podsDir).Length);
        Assert.Equal(mountsBefore, DaemonMounts());
    }

    [Fact]
    public async Task A_handler_that_cannot_join_a_user_namespace_is_not_advertised_and_refuses_such_pods()
    {
        using var d = new DaemonProcess();
        // An OCI runtime as one built without user namespaces behaves: runc for everything else.
        var wrapper = Path.Combine(d.Dir, "runc-without-userns");
        File.WriteAllText(wrapper, """
            #!/bin/sh
            bundle=.
            prev=
            for a in "$@"; do [ "$prev" = --bundle ] && bundle=$a; prev=$a; done
            if grep -q '"type": *"user"' "$bundle/config.json" 2>/dev/null; then
              echo "user namespaces are not supported by this runtime" >&2; exit 1
            fi
            exec /usr/sbin/runc "$@"
            """);
        File.SetUnixFileMode(wrapper, (UnixFileMode)0x1ED);
        Directory.CreateDirectory(d.DropInDir);
        File.WriteAllText(Path.Combine(d.DropInDir, "50-nouserns.toml"), $"""
            [runtimes.nouserns]
            path = "{wrapper}"
            root_dir = "{d.Dir}/state/nouserns"
            """);
        await d.StartServingAsync();
        var rt = new RuntimeService.RuntimeServiceClient(d.Channel());
        var handlers = (await rt.StatusAsync(new StatusRequest())).RuntimeHandlers.ToDictionary(h => h.Name);
        Assert.False(handlers["nouserns"].Features.UserNamespaces);
        Assert.True(handlers["nouserns"].Features.RecursiveReadOnlyMounts);
        Assert.True(handlers["runc"].Features.UserNamespaces);

        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = "nouserns", Uid = "u1", Namespace = "spec" },
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { UsernsOptions = PodUserns(800000) } },
            },
        };
        var e = await Assert.ThrowsAsync<RpcException>(() => rt.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = "nouserns" }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("'nouserns'", e.Status.Detail);
        Assert.Contains("user namespace", e.Status.Detail);
        Assert.Contains("user namespaces are not supported by this runtime", e.Status.Detail);
        Assert.Empty((await rt.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        Assert.Empty(Directory.GetDirectories(Path.Combine(d.Dir, "state", "pods")));
        Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.MountPoint.StartsWith(d.Dir + "/", StringComparison.Ordinal));
        // The same pod without a user namespace runs on that handler.
        config.Linux.SecurityContext.NamespaceOptions.UsernsOptions = new UserNamespace { Mode = NamespaceMode.Node };
        string id;
        try { id = (await rt.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = "nouserns" })).PodSandboxId; }
        catch (RpcException x) { throw new Xunit.Sdk.XunitException(x.Message + "\n" + d.Stderr); }
        await rt.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = id });
    }

    ContainerConfig WithIdmappedMount(string name, string hostPath)
    {
        var c = Sh(name, "true");
        var m = new Mount { ContainerPath = "/m", HostPath = hostPath };
        AddIdmap(m, PodUserns(500000));
        c.Mounts.Add(m);
        return c;
    }

    async Task<RpcException> ExpectInvalid(Pod pod, ContainerConfig c, string field)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            Rt.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod.Id, Config = c, SandboxConfig = pod.Config }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(field, e.Status.Detail);
        return e;
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Unmasked_proc_is_honoured_only_in_a_pod_user_namespace(string handler)
    {
        var userPod = await RunUsernsPod("userns-unmasked", handler, PodUserns(HostBase(handler) + 300000));
        var hostPod = await RunPod("unmasked-host", handler);
        try
        {
            // kubelet's Unmasked procMount: a security context with both lists empty.
            ContainerConfig Unmasked(string name)
            {
                var c = Sh(name, "grep -c ' /proc/keys ' /proc/self/mountinfo; grep ' /proc/sys ' /proc/self/mountinfo | grep -c ' ro,'");
                Sec(c);
                return c;
            }
            var inUserns = (await RunAll(userPod, Unmasked("in-userns")))["in-userns"].Output;
            var onHost = (await RunAll(hostPod, Unmasked("on-host")))["on-host"].Output;
            Assert.Equal(["0", "0"], inUserns);
            Assert.Equal(["1", "1"], onHost);
        }
        finally
        {
            await RemovePod(userPod);
            await RemovePod(hostPod);
        }
    }
}
