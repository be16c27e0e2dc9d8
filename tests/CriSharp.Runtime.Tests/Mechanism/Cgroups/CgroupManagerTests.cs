using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;
using CriSharp.Model;

namespace CriSharp.Runtime.Tests.Mechanism.Cgroups;

public class CgroupManagerTests
{
    static string NewPath() => "/crisharp-test/pod" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public void PathNaming()
    {
        var m = CgroupManager.CreateCgroupfs();
        Assert.Equal("/kubepods/burstable/podabc", m.PodCgroupPath("/kubepods/burstable/podabc", "id1"));
        Assert.Equal("/kubepods/besteffort/podx", m.PodCgroupPath("kubepods/besteffort/podx/", "id1"));
        Assert.Equal("/crisharp/id1", m.PodCgroupPath("", "id1"));
        Assert.Equal("/kubepods/podabc/crisharp-c1", m.ContainerCgroupPath("/kubepods/podabc", "c1"));
        Assert.Throws<ArgumentException>(() => m.PodCgroupPath("/kubepods/../../etc", "id1"));
        Assert.Equal(File.Exists("/sys/fs/cgroup/cgroup.controllers"), m.IsV2);
    }

    [Fact]
    public void SharesToWeightMatchesRunc()
    {
        Assert.Equal(1, CgroupfsV2Manager.SharesToWeight(2));
        Assert.Equal(39, CgroupfsV2Manager.SharesToWeight(1024));
        Assert.Equal(10000, CgroupfsV2Manager.SharesToWeight(262144));
    }

    [Fact]
    public void CreateApplyAndRemoveOnThisHost()
    {
        var m = CgroupManager.CreateCgroupfs();
        var path = NewPath();
        var resources = new ResourceSpec { CpuShares = 512, CpuQuota = 50_000, CpuPeriod = 100_000, MemoryLimitInBytes = 64L << 20 };
        try
        {
            m.Create(path, resources);
            m.Create(path, resources); // idempotent
            if (m is CgroupfsV1Manager v1)
            {
                Assert.Equal("512", Read(v1.DirOf("cpu", path)!, "cpu.shares"));
                Assert.Equal("50000", Read(v1.DirOf("cpu", path)!, "cpu.cfs_quota_us"));
                Assert.Equal((64L << 20).ToString(), Read(v1.DirOf("memory", path)!, "memory.limit_in_bytes"));
                var cpuset = v1.DirOf("cpuset", path)!;
                Assert.Equal(Read(v1.Hierarchies["cpuset"], "cpuset.cpus"), Read(cpuset, "cpuset.cpus"));
                Assert.Equal(Read(v1.Hierarchies["cpuset"], "cpuset.mems"), Read(cpuset, "cpuset.mems"));
                Assert.Equal(Read(v1.Hierarchies["cpuset"], "cpuset.cpus"), Read(Path.GetDirectoryName(cpuset)!, "cpuset.cpus"));
                foreach (var c in new[] { "pids", "devices", "freezer", "blkio" })
                    if (v1.DirOf(c, path) is { } d) Assert.True(Directory.Exists(d), d);

                // A container cgroup below, as runc would leave it, goes with the pod.
                var container = m.ContainerCgroupPath(path, "c1");
                m.Create(container, null);
                Assert.Equal(Read(cpuset, "cpuset.cpus"), Read(v1.DirOf("cpuset", container)!, "cpuset.cpus"));
                m.Remove(path);
                foreach (var mount in v1.Hierarchies.Values.Distinct())
                    Assert.False(Directory.Exists(mount + path), mount + path);
            }
            else
            {
                var v2 = (CgroupfsV2Manager)m;
                var dir = v2.DirOf(path);
                Assert.Equal(CgroupfsV2Manager.SharesToWeight(512).ToString(), Read(dir, "cpu.weight"));
                Assert.Equal("50000 100000", Read(dir, "cpu.max"));
                Assert.Equal((64L << 20).ToString(), Read(dir, "memory.max"));
                m.Remove(path);
                Assert.False(Directory.Exists(dir));
            }
            m.Remove(path); // missing is fine
        }
        finally
        {
            m.Remove(path);
            m.Remove("/crisharp-test");
        }
    }

    [Fact]
    public void V2DirectoriesOnTheUnifiedMount()
    {
        // On a hybrid host the cgroup2 mount has no controllers: this exercises the v2 path handling only.
        const string unified = "/sys/fs/cgroup/unified";
        var root = File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : unified;
        Assert.True(File.Exists(Path.Combine(root, "cgroup.controllers")), "needs a cgroup2 mount at /sys/fs/cgroup or " + unified);
        var m = new CgroupfsV2Manager(root);
        var path = NewPath();
        try
        {
            m.Create(m.ContainerCgroupPath(path, "c1"), new ResourceSpec());
            Assert.True(Directory.Exists(m.DirOf(m.ContainerCgroupPath(path, "c1"))));
            m.Remove(path);
            Assert.False(Directory.Exists(m.DirOf(path)));
        }
        finally
        {
            m.Remove(path);
            m.Remove("/crisharp-test");
        }
    }

    static string Read(string dir, string file) => File.ReadAllText(Path.Combine(dir, file)).Trim();
}
