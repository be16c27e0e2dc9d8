using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;
using CriSharp.Model;
using CriSharp.Runtime.Pods;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Pods;

public sealed class PodResourceUpdaterTests
{
    [Fact]
    public void Pod_limits_are_resources_plus_overhead_for_the_fields_resources_sets()
    {
        var resources = new ResourceSpec { CpuShares = 1024, CpuQuota = 100_000, CpuPeriod = 100_000, MemoryLimitInBytes = 256L << 20, CpusetCpus = "0" };
        var overhead = new ResourceSpec { CpuShares = 102, CpuQuota = 5_000, CpuPeriod = 50_000, MemoryLimitInBytes = 16L << 20 };
        var l = PodResourceUpdater.PodLimits(overhead, resources)!;
        Assert.Equal(1126, l.CpuShares);
        Assert.Equal(110_000, l.CpuQuota); // 5000 per 50 ms = 10000 per 100 ms
        Assert.Equal(100_000, l.CpuPeriod);
        Assert.Equal(272L << 20, l.MemoryLimitInBytes);
        Assert.Equal("0", l.CpusetCpus);

        var unlimited = PodResourceUpdater.PodLimits(overhead, new ResourceSpec { CpuShares = 2 })!;
        Assert.Equal(0, unlimited.MemoryLimitInBytes);
        Assert.Equal(0, unlimited.CpuQuota);
        Assert.Equal(0, unlimited.CpuPeriod);
        Assert.Null(PodResourceUpdater.PodLimits(overhead, null));
    }

    [Fact]
    public void Update_changes_the_pod_cgroup_and_the_record()
    {
        using var dir = new TempDir();
        var cgroups = CgroupManager.CreateCgroupfs();
        var sandboxes = RuntimeRecords.Sandboxes(dir.Path);
        var path = "/crisharp-test/pod-" + Guid.NewGuid().ToString("N")[..8];
        cgroups.Create(path, new ResourceSpec { CpuShares = 512, MemoryLimitInBytes = 64L << 20 });
        try
        {
            sandboxes.Put(new PodSandbox
            {
                Id = "p1",
                Spec = new SandboxSpec { Name = "p", Uid = "u", Namespace = "n" },
                RuntimeHandler = "runc",
                Dir = dir.Path,
                CgroupPath = path,
            });
            var updater = new PodResourceUpdater(sandboxes, cgroups, Serilog.Core.Logger.None);
            var resources = new ResourceSpec { CpuShares = 2048, MemoryLimitInBytes = 128L << 20 };
            var overhead = new ResourceSpec { MemoryLimitInBytes = 1L << 20 };
            updater.Update("p1", overhead, resources);

            if (cgroups is CgroupfsV1Manager v1)
            {
                Assert.Equal("2048", Read(v1.DirOf("cpu", path)!, "cpu.shares"));
                Assert.Equal((129L << 20).ToString(), Read(v1.DirOf("memory", path)!, "memory.limit_in_bytes"));
            }
            else
            {
                var d = ((CgroupfsV2Manager)cgroups).DirOf(path);
                Assert.Equal(CgroupfsV2Manager.SharesToWeight(2048).ToString(), Read(d, "cpu.weight"));
                Assert.Equal((129L << 20).ToString(), Read(d, "memory.max"));
            }
            Assert.Equal(resources, sandboxes.Get("p1")!.Spec.Resources);
            Assert.Equal(overhead, sandboxes.Get("p1")!.Spec.Overhead);
            Assert.Throws<ObjectNotFoundException>(() => updater.Update("nope", null, resources));
            cgroups.Remove(path);
            Assert.Throws<CgroupException>(() => cgroups.Update(path, resources));
        }
        finally
        {
            cgroups.Remove(path);
            cgroups.Remove("/crisharp-test");
        }
    }

    static string Read(string dir, string file) => File.ReadAllText(Path.Combine(dir, file)).Trim();
}
