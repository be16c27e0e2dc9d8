using System.Diagnostics;
using System.Text.Json;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>Faults an operator hits on a node: damaged records, full disks, a daemon killed mid-removal.</summary>
public sealed partial class RecoveryTests
{
    string RecordsDir(string kind) => Path.Combine(_daemon.Dir, "root", "records", kind);
    string QuarantineDir(string kind) => Path.Combine(_daemon.Dir, "root", "quarantine", kind);

    async Task<string> ContainerCgroupAsync(string id)
    {
        var r = await _runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true });
        return JsonDocument.Parse(r.Info["info"]).RootElement.GetProperty("runtimeSpec").GetProperty("linux").GetProperty("cgroupsPath").GetString()!;
    }

    /// <summary>What a running container owns on the host: its process, its rootfs mount, its bundle and its cgroup.</summary>
    void AssertContainerIntact(string id, int pid, string cgroup, string why)
    {
        Assert.True(IsAlive(pid), $"{why}: container {id}'s process {pid} is gone\n{_daemon.Stderr}");
        var rootfs = Path.Combine(ContainersStateDir, id, "rootfs");
        Assert.True(Mounts.IsMountPoint(rootfs), $"{why}: container {id}'s rootfs {rootfs} is no longer mounted");
        Assert.True(File.Exists(Path.Combine(ContainersStateDir, id, "config.json")), $"{why}: container {id}'s bundle is gone");
        Assert.True(Directory.Exists(Path.Combine(ContainersLayerDir, id, "upper")), $"{why}: container {id}'s writable layer is gone");
        foreach (var dir in CgroupDirs(cgroup))
            Assert.True(Directory.Exists(dir), $"{why}: container {id}'s cgroup {dir} is gone");
    }

    (int Code, string Out) RunCrisharp(params string[] args)
    {
        var psi = new ProcessStartInfo(DaemonProcess.Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(30_000), "crisharp " + string.Join(' ', args) + " did not finish");
        return (p.ExitCode, stdout.Result + stderr);
    }

    [Fact]
    public async Task Records_that_cannot_be_read_are_quarantined_and_nothing_they_own_is_removed()
    {
        var (pod, config, cgroup) = await RunPodAsync("damaged");
        var healthy = await CreateAndStartAsync(pod, config, "healthy", "sleep 1000");
        var damage = new Dictionary<string, Action<string>>
        {
            ["garbage"] = f => File.WriteAllText(f, "{\"id\": \"\u0001not json"),
            ["null"] = f => File.WriteAllText(f, "null"),
            ["mode000"] = f => File.SetUnixFileMode(f, UnixFileMode.None),
        };
        var victims = new Dictionary<string, (string Id, int Pid, string Cgroup)>();
        foreach (var kind in damage.Keys)
        {
            var id = await CreateAndStartAsync(pod, config, kind, "sleep 1000");
            await WaitForState(id, ContainerState.ContainerRunning);
            victims[kind] = (id, (await PidsAsync(id)).Pid, await ContainerCgroupAsync(id));
        }
        // A second pod whose own record is damaged: its container's record is fine.
        var (orphanPod, orphanConfig, orphanCgroup) = await RunPodAsync("damaged-pod");
        var orphan = await CreateAndStartAsync(orphanPod, orphanConfig, "orphan", "sleep 1000");
        await WaitForState(orphan, ContainerState.ContainerRunning);
        var orphanPid = (await PidsAsync(orphan)).Pid;
        var orphanNetNs = JsonDocument.Parse((await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = orphanPod, Verbose = true })).Info["info"])
            .RootElement.GetProperty("netns").GetString()!;
        var podNetNs = JsonDocument.Parse((await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod, Verbose = true })).Info["info"])
            .RootElement.GetProperty("netns").GetString()!;
        await StopGracefullyAsync();

        var originals = new Dictionary<string, byte[]>();
        foreach (var (kind, (id, _, _)) in victims)
        {
            var file = Path.Combine(RecordsDir("containers"), id + ".json");
            originals[id] = File.ReadAllBytes(file);
            damage[kind](file);
        }
        var podFile = Path.Combine(RecordsDir("sandboxes"), orphanPod + ".json");
        var podOriginal = File.ReadAllBytes(podFile);
        File.WriteAllText(podFile, "garbage");

        // Two starts: a quarantined record protects what it owns on every later start too, not only the first.
        for (var start = 1; start <= 2; start++)
        {
            await StartDaemonAsync();
            var why = $"start {start} after damaging the records";
            var listed = (await _runtime.ListContainersAsync(new ListContainersRequest())).Containers.Select(c => c.Id).ToHashSet();
            Assert.Contains(healthy, listed);
            Assert.Contains(orphan, listed);
            Assert.Equal(ContainerState.ContainerRunning, (await StatusAsync(healthy)).State);
            Assert.Equal(0, (await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = healthy, Cmd = { "true" }, Timeout = 10 })).ExitCode);
            Assert.Equal(0, (await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = orphan, Cmd = { "true" }, Timeout = 10 })).ExitCode);
            foreach (var (kind, (id, pid, cg)) in victims)
            {
                Assert.DoesNotContain(id, listed);
                AssertContainerIntact(id, pid, cg, $"{why} ({kind})");
                Assert.True(File.Exists(Path.Combine(QuarantineDir("containers"), id + ".json")), $"{why}: {kind} record of {id} is not in quarantine");
                Assert.False(File.Exists(Path.Combine(RecordsDir("containers"), id + ".json")), $"{why}: {kind} record of {id} is still among the records");
            }
            var pods = (await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items.Select(p => p.Id).ToList();
            Assert.Equal([pod], pods);
            Assert.True(Mounts.IsMountPoint(orphanNetNs), $"{why}: the damaged pod's netns {orphanNetNs} is gone");
            Assert.True(Mounts.IsMountPoint(podNetNs), $"{why}: the pod's netns {podNetNs} is gone");
            Assert.True(Directory.Exists(Path.Combine(PodsStateDir, orphanPod)), $"{why}: the damaged pod's dir is gone");
            foreach (var dir in CgroupDirs(orphanCgroup))
                Assert.True(Directory.Exists(dir), $"{why}: the damaged pod's cgroup {dir} is gone");
            Assert.True(IsAlive(orphanPid));
            Assert.True(File.Exists(Path.Combine(QuarantineDir("sandboxes"), orphanPod + ".json")), $"{why}: the pod record is not in quarantine");
            Assert.Contains("moved to", _daemon.Stderr);
            if (start == 1) await StopGracefullyAsync();
        }

        // The operator's view: every record, with why it was set aside.
        var (code, text) = RunCrisharp("quarantine", "--config", _daemon.ConfigFile, "--config-dir", _daemon.DropInDir);
        output.WriteLine(text);
        Assert.Equal(0, code);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length); // header + 4
        Assert.Contains(lines, l => l.StartsWith($"containers\t{victims["null"].Id}\t") && l.Contains("null"));
        Assert.Contains(lines, l => l.StartsWith($"containers\t{victims["mode000"].Id}\t") && l.Contains("mode 0000"));
        Assert.Contains(lines, l => l.StartsWith($"containers\t{victims["garbage"].Id}\t"));
        Assert.Contains(lines, l => l.StartsWith($"sandboxes\t{orphanPod}\t"));

        // The operator repairs the records and puts them back: the next start recovers them all.
        await StopGracefullyAsync();
        foreach (var (id, bytes) in originals)
        {
            File.WriteAllBytes(Path.Combine(RecordsDir("containers"), id + ".json"), bytes);
            foreach (var f in Directory.GetFiles(QuarantineDir("containers"), id + ".json*")) File.Delete(f);
        }
        File.WriteAllBytes(podFile, podOriginal);
        foreach (var f in Directory.GetFiles(QuarantineDir("sandboxes"), orphanPod + ".json*")) File.Delete(f);
        await StartDaemonAsync();
        Assert.Equal(2, (await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items.Count);
        var conmons = new List<int>();
        foreach (var id in victims.Values.Select(v => v.Id).Append(healthy).Append(orphan))
        {
            Assert.Equal(ContainerState.ContainerRunning, (await StatusAsync(id)).State);
            conmons.Add((await PidsAsync(id)).ConmonPid);
        }
        foreach (var p in new[] { pod, orphanPod })
        {
            await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = p });
            await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = p });
        }
        await AssertNothingLeftAsync(cgroup, [.. conmons]);
        foreach (var dir in CgroupDirs(orphanCgroup))
            Assert.False(Directory.Exists(dir), $"pod cgroup {dir} left behind");
    }

    [Fact]
    public async Task An_exit_while_the_record_store_is_full_is_recorded_with_its_real_code_and_time_once_space_is_back()
    {
        // The root dir (records, layers) moves onto a small tmpfs this test fills; the state dir, where conmon
        // writes its exit files, stays where it is.
        await StopGracefullyAsync();
        var root = Path.Combine(_daemon.Dir, "root");
        var onDisk = root + ".disk";
        Directory.Move(root, onDisk);
        Directory.CreateDirectory(root);
        Mounts.MountTmpfs(root, 128L << 20, "711");
        string cgroup;
        int conmonPid;
        try
        {
            using (var cp = Process.Start("cp", ["-a", onDisk + "/.", root]))
            {
                cp.WaitForExit();
                Assert.Equal(0, cp.ExitCode);
            }
            await StartDaemonAsync();
            var control = Directory.CreateDirectory(Path.Combine(_daemon.Dir, "control")).FullName;
            var (pod, config, podCgroup) = await RunPodAsync("full-disk");
            cgroup = podCgroup;
            var cfg = ShConfig("exits-on-cue", "while [ ! -e /control/go ]; do sleep 0.05; done; exit 9");
            cfg.Mounts.Add(new Mount { HostPath = control, ContainerPath = "/control" });
            var ctr = (await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = cfg, SandboxConfig = config })).ContainerId;
            await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr });
            await WaitForState(ctr, ContainerState.ContainerRunning);
            conmonPid = (await PidsAsync(ctr)).ConmonPid;

            var filler = Path.Combine(root, "filler");
            var filled = Fill(filler);
            output.WriteLine($"filled the root tmpfs with {filled >> 20} MiB");
            Assert.Throws<IOException>(() => File.WriteAllBytes(Path.Combine(root, "probe"), new byte[8192]));
            var exitedAt = DateTimeOffset.UtcNow;
            File.WriteAllText(Path.Combine(control, "go"), "");
            var exitFile = Path.Combine(StateDir, "exits", ctr);
            await WaitUntil(() => File.Exists(exitFile), "conmon wrote no exit file");
            await WaitUntil(() => _daemon.Stderr.Contains("could not be recorded"), "the daemon never tried to record the exit\n" + _daemon.Stderr);
            await Task.Delay(TimeSpan.FromSeconds(2));
            // Nothing could be written: the record still says running, and the daemon keeps trying.
            Assert.Equal(ContainerState.ContainerRunning, (await StatusAsync(ctr)).State);

            File.Delete(filler);
            var freedAt = DateTimeOffset.UtcNow;
            var s = await WaitForState(ctr, ContainerState.ContainerExited);
            Assert.Equal(9, s.ExitCode);
            Assert.Equal("Error", s.Reason);
            // The time is the exit's, not the time space came back (over 2 s later).
            Assert.True(Math.Abs(s.FinishedAt - Nanos(exitedAt)) < 1_000_000_000L,
                $"finished_at {s.FinishedAt} is {(s.FinishedAt - Nanos(exitedAt)) / 1e9:0.###} s from the exit");
            Assert.True(s.FinishedAt < Nanos(freedAt) - 1_000_000_000L, "finished_at is the time space came back");

            // Durable: a restart reads the same.
            await StopGracefullyAsync();
            await StartDaemonAsync();
            var again = await StatusAsync(ctr);
            Assert.Equal((ContainerState.ContainerExited, 9, s.FinishedAt), (again.State, again.ExitCode, again.FinishedAt));

            await _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr });
            await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
            await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(root, "containers")));
            await StopGracefullyAsync();
        }
        finally
        {
            if (_daemon.Process is { HasExited: false }) await CrashAsync();
            Mounts.Unmount(root, detach: true);
            Directory.Delete(root);
            Directory.Move(onDisk, root);
        }
        await StartDaemonAsync();
        await AssertNothingLeftAsync(cgroup, conmonPid);
    }

    /// <summary>Writes <paramref name="file"/> until the filesystem is full (1 MiB, then 4 KiB writes); its size.</summary>
    static long Fill(string file)
    {
        long written = 0;
        using var f = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        foreach (var chunk in new[] { 1 << 20, 4096, 1 })
        {
            var buffer = new byte[chunk];
            try
            {
                while (true) { f.Write(buffer); written += chunk; }
            }
            catch (IOException)
            {
            }
        }
        return written;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RemovePodSandbox_leaves_the_kubelets_cgroup_parent_and_removes_only_its_own_children(bool olderFirst)
    {
        // As the kubelet does (cgroupfs driver): the pod's cgroup exists before RunPodSandbox, in every hierarchy.
        var uid = Guid.NewGuid().ToString();
        var parent = $"/crisharp-it-kubepods/pod{uid}";
        var hierarchies = HierarchiesOf(parent).ToList();
        foreach (var dir in hierarchies) Directory.CreateDirectory(dir);
        try
        {
            var sandboxes = new List<(string Pod, PodSandboxConfig Config, string Container)>();
            for (uint attempt = 0; attempt < 2; attempt++)
            {
                // Two sandboxes of one pod (the kubelet's restart of a sandbox), each with an infra process and a container.
                var config = PodConfig("kubelet-parent");
                config.Metadata.Uid = uid;
                config.Metadata.Attempt = attempt;
                config.Linux = new LinuxPodSandboxConfig
                {
                    CgroupParent = parent,
                    SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Pid = NamespaceMode.Pod } },
                };
                var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
                var ctr = await CreateAndStartAsync(pod, config, $"app-{attempt}", "sleep 1000");
                await WaitForState(ctr, ContainerState.ContainerRunning);
                Assert.Equal(parent + "/crisharp-" + ctr, await ContainerCgroupAsync(ctr));
                sandboxes.Add((pod, config, ctr));
            }
            var children = ChildrenOf(parent);
            output.WriteLine("children of the parent: " + string.Join(", ", children));
            Assert.Equal(4, children.Count);
            foreach (var (pod, _, ctr) in sandboxes)
            {
                Assert.Contains("crisharp-" + ctr, children);
                Assert.Contains("crisharp-infra-" + pod, children);
            }

            var order = olderFirst ? sandboxes : [.. Enumerable.Reverse(sandboxes)];
            var (first, _, firstCtr) = order[0];
            var (second, _, secondCtr) = order[1];
            var conmons = new[] { (await PidsAsync(firstCtr)).ConmonPid, (await PidsAsync(secondCtr)).ConmonPid };
            await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = first });
            await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = first });
            Assert.All(hierarchies, dir => Assert.True(Directory.Exists(dir), $"the kubelet's cgroup {dir} was removed with a sandbox"));
            Assert.Equal(["crisharp-" + secondCtr, "crisharp-infra-" + second], ChildrenOf(parent).Order());
            // The other sandbox still works in it.
            Assert.Equal(0, (await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = secondCtr, Cmd = { "true" }, Timeout = 10 })).ExitCode);
            Assert.Equal(ContainerState.ContainerRunning, (await StatusAsync(secondCtr)).State);

            await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = second });
            await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = second });
            Assert.All(hierarchies, dir => Assert.True(Directory.Exists(dir), $"the kubelet's cgroup {dir} was removed with a sandbox"));
            Assert.Empty(ChildrenOf(parent));
            await AssertNothingLeftAsync("/crisharp-it-none", conmons);
        }
        finally
        {
            foreach (var mount in CgroupMounts())
                foreach (var dir in new[] { mount + parent, mount + "/crisharp-it-kubepods" }.Where(Directory.Exists))
                    foreach (var d in Directory.EnumerateDirectories(dir, "*", SearchOption.AllDirectories).Append(dir).OrderByDescending(d => d.Length))
                        try { Directory.Delete(d); } catch (IOException) { }
        }
    }

    /// <summary>Every cgroup mount (v1 hierarchies and the unified one).</summary>
    static IEnumerable<string> CgroupMounts() =>
        Mounts.ReadMountInfo().Where(m => m.FsType is "cgroup" or "cgroup2").Select(m => m.MountPoint).Distinct();

    /// <summary>The cgroup's dir in the hierarchies a kubelet would make it in (as <see cref="CgroupDirs"/> checks).</summary>
    static IEnumerable<string> HierarchiesOf(string path) => CgroupDirs(path);

    /// <summary>Names of the child cgroups of <paramref name="path"/> in any hierarchy.</summary>
    static List<string> ChildrenOf(string path) =>
        [.. CgroupMounts().Select(m => m + path).Where(Directory.Exists).SelectMany(Directory.GetDirectories).Select(d => Path.GetFileName(d)!).Distinct().Order()];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_removal_cut_short_by_kill_9_is_finished_at_the_next_start(bool wholePod)
    {
        // runc behind a wrapper whose delete waits while a file exists: the daemon is killed in the middle of it.
        var block = Path.Combine(_daemon.Dir, "block-delete");
        var inDelete = Path.Combine(_daemon.Dir, "in-delete");
        var wrapper = Path.Combine(_daemon.Dir, "runc-slow-delete");
        File.WriteAllText(wrapper, $"""
            #!/bin/sh
            for a in "$@"; do
              if [ "$a" = delete ]; then
                while [ -e {block} ]; do touch {inDelete}; sleep 0.05; done
              fi
            done
            exec /usr/sbin/runc "$@"
            """);
        File.SetUnixFileMode(wrapper, (UnixFileMode)0x1ED);
        var handlerRoot = Path.Combine(StateDir, "slowdelete");
        Directory.CreateDirectory(_daemon.DropInDir);
        File.WriteAllText(Path.Combine(_daemon.DropInDir, "70-slowdelete.toml"), $"[runtimes.slowdelete]\npath = \"{wrapper}\"\nroot_dir = \"{handlerRoot}\"\n");
        await StopGracefullyAsync();
        await StartDaemonAsync();

        var config = PodConfig(wholePod ? "cut-short-pod" : "cut-short-container");
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = "slowdelete" })).PodSandboxId;
        var cgroup = JsonDocument.Parse((await _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod, Verbose = true })).Info["info"])
            .RootElement.GetProperty("cgroupPath").GetString()!;
        _podCgroups.Add(cgroup);
        var ctr = await CreateAndStartAsync(pod, config, "victim", "sleep 1000");
        await WaitForState(ctr, ContainerState.ContainerRunning);
        var (pid, conmonPid) = await PidsAsync(ctr);
        var ctrCgroup = await ContainerCgroupAsync(ctr);

        File.WriteAllText(block, "");
        var removal = wholePod
            ? _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod }).ResponseAsync as Task
            : _runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr }).ResponseAsync;
        await WaitUntil(() => File.Exists(inDelete), "the removal never reached the runtime's delete\n" + _daemon.Stderr);
        await CrashAsync();
        await Assert.ThrowsAsync<RpcException>(() => removal);
        foreach (var (p, cmd) in ProcessesMentioning(wrapper))
        {
            output.WriteLine($"killing the cut-short delete {p}: {cmd}");
            ProcessControl.Signal(p, ProcessControl.SIGKILL);
        }
        File.Delete(block);
        Assert.True(Directory.Exists(Path.Combine(ContainersStateDir, ctr)), "the crash came too late: the container's bundle is already gone");

        await StartDaemonAsync();
        Assert.Contains("finished the interrupted removal", _daemon.Stderr);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await StatusAsync(ctr));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.False(IsAlive(pid));
        Assert.False(Directory.Exists(Path.Combine(ContainersStateDir, ctr)), "the container's bundle is left");
        Assert.False(Directory.Exists(Path.Combine(ContainersLayerDir, ctr)), "the container's writable layer is left");
        Assert.False(Directory.Exists(Path.Combine(handlerRoot, ctr)), "the runtime's state of the container is left");
        foreach (var dir in CgroupDirs(ctrCgroup))
            Assert.False(Directory.Exists(dir), $"the container's cgroup {dir} is left");
        if (wholePod)
            Assert.Empty((await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        else
        {
            Assert.Equal(PodSandboxState.SandboxReady, Assert.Single((await _runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items).State);
            await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
            await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        }
        await AssertNothingLeftAsync(cgroup, conmonPid);
        Assert.Empty(Directory.GetDirectories(handlerRoot));
    }

    [Fact]
    public async Task Creates_racing_a_pod_removal_either_finish_before_it_or_are_refused_and_nothing_is_left()
    {
        var (pod, config, cgroup) = await RunPodAsync("racing");
        var creates = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            await Task.Delay(i * 15);
            try
            {
                return (await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = ShConfig($"r{i}", "sleep 1000"), SandboxConfig = config })).ContainerId;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.FailedPrecondition)
            {
                return e.StatusCode.ToString();
            }
        })).ToList();
        await Task.Delay(40);
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        var outcomes = await Task.WhenAll(creates);
        output.WriteLine("creates: " + string.Join(", ", outcomes.Select(o => o.Length > 20 ? "created" : o)));
        // Whatever a create answered, the removal took it: no container of the pod exists afterwards.
        Assert.Empty((await _runtime.ListContainersAsync(new ListContainersRequest())).Containers);
        foreach (var id in outcomes.Where(o => o.Length > 20))
            Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () => await StatusAsync(id))).StatusCode);
        await AssertNothingLeftAsync(cgroup);
    }

    [Fact]
    public async Task Image_volumes_stay_for_a_container_running_across_a_crash_and_go_for_one_that_exited_meanwhile()
    {
        var (pod, config, cgroup) = await RunPodAsync("imgvol-crash");
        async Task<string> WithVolume(string name, string script)
        {
            var c = ShConfig(name, script);
            c.Mounts.Add(new Mount { ContainerPath = "/img", Image = new ImageSpec { Image = Busybox }, Readonly = true });
            var id = (await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = c, SandboxConfig = config })).ContainerId;
            await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
            return id;
        }
        List<string> VolumeMounts(string id)
        {
            var dir = Path.Combine(ContainersStateDir, id, "volumes");
            return [.. Mounts.ReadMountInfo().Select(m => m.MountPoint).Where(p => p == dir || p.StartsWith(dir + "/", StringComparison.Ordinal))];
        }
        var running = await WithVolume("stays", "sleep 3600");
        var brief = await WithVolume("brief", "sleep 2");
        Assert.Single(VolumeMounts(running));
        Assert.Single(VolumeMounts(brief));

        var (runningPid, runningConmon) = await PidsAsync(running);
        var (briefPid, briefConmon) = await PidsAsync(brief);
        await CrashAsync();
        // Its conmon writes the exit file and goes: the restarted daemon learns of the exit from that file.
        await WaitUntil(() => !IsAlive(briefPid) && !IsAlive(briefConmon), "the brief container did not exit while the daemon was down");
        Assert.Single(VolumeMounts(brief));
        await StartDaemonAsync();

        Assert.Equal(ContainerState.ContainerExited, (await StatusAsync(brief)).State);
        Assert.Empty(VolumeMounts(brief));
        Assert.Single(VolumeMounts(running));
        var exec = await _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = running, Cmd = { "test", "-x", "/img/bin/busybox" }, Timeout = 10 });
        Assert.Equal(0, exec.ExitCode);
        Assert.Equal(runningPid, (await PidsAsync(running)).Pid);

        await _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod });
        Assert.Empty(VolumeMounts(running));
        await _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod });
        await AssertNothingLeftAsync(cgroup, runningConmon, briefConmon);
    }
}
