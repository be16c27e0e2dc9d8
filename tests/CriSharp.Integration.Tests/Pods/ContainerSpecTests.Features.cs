using CriSharp.Api.V1;
using CriSharp.Linux;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>
/// What Status advertises, proven on each handler: recursive read-only mounts and Strict supplemental groups;
/// and the pod defaults critest and kubelet rely on (node hostname for a pod without one, log reopening).
/// </summary>
public sealed partial class ContainerSpecTests
{
    [Fact]
    public async Task Status_advertises_each_handler_and_the_default_as_probed()
    {
        var status = await Rt.StatusAsync(new StatusRequest());
        Assert.True(status.Features.SupplementalGroupsPolicy);
        var handlers = status.RuntimeHandlers.ToDictionary(h => h.Name);
        Assert.Equal(["", "crun", "runc"], handlers.Keys.Order(StringComparer.Ordinal));
        // Both runc 1.1.5 and crun 1.8.1 apply "rro" on this kernel (mount_setattr); the probe ran each for real.
        foreach (var h in handlers.Values)
        {
            Assert.True(h.Features.RecursiveReadOnlyMounts, $"handler '{h.Name}'");
            // Both handlers join a pinned user namespace over idmapped layers here (the probe ran a container of each).
            Assert.True(h.Features.UserNamespaces, $"handler '{h.Name}'");
        }
        // No probe container, layer or pinned namespace is left behind.
        foreach (var dir in new[] { Path.Combine(f.Daemon.Dir, "state", "probes"), Path.Combine(f.Daemon.Dir, "root", "probes") })
            Assert.Empty(Directory.Exists(dir) ? Directory.GetFileSystemEntries(dir) : []);
        Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.MountPoint.StartsWith(f.Daemon.Dir + "/", StringComparison.Ordinal) && m.MountPoint.Contains("/probes/", StringComparison.Ordinal));
        // critest reads the state dir from the verbose config (it tests idmapped mounts on its parent's file system).
        var verbose = await Rt.StatusAsync(new StatusRequest { Verbose = true });
        var config = System.Text.Json.JsonDocument.Parse(verbose.Info["config"]).RootElement;
        Assert.Equal(Path.Combine(f.Daemon.Dir, "state"), config.GetProperty("stateDir").GetString());
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_recursive_read_only_mount_makes_its_submounts_read_only_too(string handler)
    {
        var dir = Directory.CreateTempSubdirectory("crisharp-spec-rro-").FullName;
        var sub = Path.Combine(dir, "sub");
        Directory.CreateDirectory(sub);
        Mounts.MountTmpfs(sub, sizeBytes: 1 << 20);
        var pod = await RunPod("rro", handler);
        try
        {
            var c = Sh("rro", """
                touch /rro/sub/x 2>&1 || echo rro-sub-failed
                touch /ro/sub/y && echo ro-sub-written
                """);
            c.Mounts.Add(new Mount { ContainerPath = "/rro", HostPath = dir, Readonly = true, RecursiveReadOnly = true });
            c.Mounts.Add(new Mount { ContainerPath = "/ro", HostPath = dir, Readonly = true });
            var output = (await RunAll(pod, c))["rro"].Output;
            Assert.Contains("rro-sub-failed", output);
            Assert.Contains(output, l => l.Contains("/rro/sub/x") && l.Contains("Read-only file system"));
            Assert.False(File.Exists(Path.Combine(sub, "x")));
            // A plain read-only bind mount leaves the submount writable: that is why "recursive" exists.
            Assert.Contains("ro-sub-written", output);

            foreach (var (bad, why) in new (Mount, string)[]
            {
                (new Mount { ContainerPath = "/m", HostPath = dir, Readonly = false, RecursiveReadOnly = true }, "read-only"),
                (new Mount { ContainerPath = "/m", HostPath = dir, Readonly = true, RecursiveReadOnly = true, Propagation = MountPropagation.PropagationHostToContainer }, "private"),
                (new Mount { ContainerPath = "/m", HostPath = dir, Readonly = true, RecursiveReadOnly = true, Propagation = MountPropagation.PropagationBidirectional }, "private"),
            })
            {
                var refused = Sh("rro-bad", "true");
                refused.Mounts.Add(bad);
                var e = await Assert.ThrowsAsync<RpcException>(() => Rt.CreateContainerAsync(
                    new CreateContainerRequest { PodSandboxId = pod.Id, Config = refused, SandboxConfig = pod.Config }).ResponseAsync);
                Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
                Assert.Contains(why, e.Status.Detail);
            }
        }
        finally
        {
            await RemovePod(pod);
            Mounts.Unmount(sub, detach: true);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Strict_supplemental_groups_hold_for_the_process_and_for_exec(string handler)
    {
        var pod = await RunPod("strict", handler);
        try
        {
            // nonroot's user `app` (1000) is a member of `extra` (2000) in the image: Merge adds it, Strict must not.
            ContainerConfig Groups(string name, SupplementalGroupsPolicy policy)
            {
                var c = Sh(name, "echo G=$(id -G); sleep 3600", f.NonRoot);
                Sec(c).SupplementalGroupsPolicy = policy;
                Sec(c).SupplementalGroups.Add(1234);
                return c;
            }
            var strict = await CreateAndStart(pod, Groups("strict", SupplementalGroupsPolicy.Strict));
            var merge = await CreateAndStart(pod, Groups("merge", SupplementalGroupsPolicy.Merge));
            foreach (var (id, expected) in new[] { (strict, "1000 1234"), (merge, "1000 1234 2000") })
            {
                var logged = Field(await WaitForLog(id, l => l.Any(x => x.StartsWith("G=", StringComparison.Ordinal))), "G=");
                Assert.Equal(expected, string.Join(' ', logged.Split(' ').Order(StringComparer.Ordinal)));
                var exec = await Rt.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { "id", "-G" }, Timeout = 10 });
                Assert.Equal(expected, string.Join(' ', exec.Stdout.ToStringUtf8().Trim().Split(' ').Order(StringComparer.Ordinal)));
            }
        }
        finally { await RemovePod(pod); }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_pod_without_a_hostname_gets_the_nodes_even_with_a_name_longer_than_64(string handler)
    {
        var pod = await RunPod("PodSandbox-for-create-container-" + Guid.NewGuid() + "-" + new string('x', 40), handler, c => c.Hostname = "");
        try
        {
            var output = (await RunAll(pod, Sh("host", "echo host=$(hostname); echo etc=$(cat /etc/hostname)")))["host"].Output;
            var node = File.ReadAllText("/proc/sys/kernel/hostname").Trim();
            Assert.Equal(node, Field(output, "host="));
            Assert.Equal(node, Field(output, "etc="));
        }
        finally { await RemovePod(pod); }

        var tooLong = await Assert.ThrowsAsync<RpcException>(() => RunPod("long-hostname", handler, c => c.Hostname = new string('h', 65)));
        Assert.Equal(StatusCode.InvalidArgument, tooLong.StatusCode);
        Assert.Contains("config.hostname", tooLong.Status.Detail);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task ReopenContainerLog_creates_the_new_file_before_it_returns(string handler)
    {
        var pod = await RunPod("reopen", handler);
        try
        {
            var id = await CreateAndStart(pod, Sh("reopen", "while true; do echo tick; sleep 0.1; done"));
            var path = (await Status(id)).LogPath;
            await WaitForLog(id, l => l.Contains("tick"));
            File.Move(path, path + ".old");
            await Rt.ReopenContainerLogAsync(new ReopenContainerLogRequest { ContainerId = id });
            Assert.True(File.Exists(path), "the new log file exists when ReopenContainerLog returns");
            await WaitForLog(id, l => l.Contains("tick"));
            var oldLength = new FileInfo(path + ".old").Length;
            await Task.Delay(500);
            Assert.Equal(oldLength, new FileInfo(path + ".old").Length);
        }
        finally { await RemovePod(pod); }
    }
}
