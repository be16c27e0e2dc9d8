using CriSharp.Mechanism.Cgroups;
using CriSharp.Mechanism.Cgroups.V1;
using CriSharp.Mechanism.Cgroups.V2;
using CriSharp.Model;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Mechanism.Cgroups;

/// <summary>
/// What a caller asks any <see cref="ICgroupManager"/> instead of looking at its type: the OOM kill count and the
/// stats reader, for each cgroupfs manager over directories laid out like its hierarchy, and for a driver of neither.
/// </summary>
public sealed class CgroupManagerOomAndStatsTests : IDisposable
{
    const string Cgroup = "/kubepods/pod1/ctr1";
    readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    static void Write(string dir, string file, string content)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, file), content);
    }

    [Fact]
    public void V1_manager_counts_oom_kills_in_the_memory_hierarchy()
    {
        var h = new Dictionary<string, string> { ["memory"] = _tmp.Sub("memory"), ["cpu"] = _tmp.Sub("cpu") };
        Write(h["memory"] + Cgroup, CgroupV1OomCounter.FileName, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        var m = new CgroupfsV1Manager(h);
        Assert.Equal(2, m.OomKillCount(Cgroup));
        Assert.Equal(0, m.OomKillCount("/kubepods/gone"));
        Assert.Equal(0, new CgroupfsV1Manager(new Dictionary<string, string> { ["cpu"] = h["cpu"] }).OomKillCount(Cgroup));
    }

    [Fact]
    public void V2_manager_counts_oom_kills_in_memory_events()
    {
        var root = _tmp.Sub("unified");
        Write(root + Cgroup, CgroupV2OomCounter.FileName, "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n");
        var m = new CgroupfsV2Manager(root);
        Assert.Equal(1, m.OomKillCount(Cgroup));
        Assert.Equal(0, m.OomKillCount("/kubepods/gone"));
        Assert.Throws<ArgumentException>(() => m.OomKillCount("/kubepods/../x"));
    }

    [Fact]
    public void Either_file_counts_for_a_dir_of_unknown_version()
    {
        var v1 = _tmp.Sub("v1");
        var v2 = _tmp.Sub("v2");
        Write(v1, CgroupV1OomCounter.FileName, "oom_kill_disable 0\noom_kill 4\n");
        Write(v2, CgroupV2OomCounter.FileName, "oom 1\noom_kill 3\n");
        Assert.Equal(4, CgroupOomKills.InEitherFile(v1));
        Assert.Equal(3, CgroupOomKills.InEitherFile(v2));
        Assert.Equal(0, CgroupOomKills.InEitherFile(_tmp.Sub("empty")));
        Write(v1, "odd", "oom_kill\noom_kill x\noom_kill 1 2\n oom_kill  7 \noom_kill 8\n");
        Assert.Equal(7, CgroupOomKills.Read(Path.Combine(v1, "odd")));
    }

    [Fact]
    public void Each_manager_makes_the_stats_reader_of_its_version()
    {
        var h = new Dictionary<string, string> { ["memory"] = _tmp.Sub("memory") };
        Write(h["memory"] + Cgroup, "memory.usage_in_bytes", "4096\n");
        var v1 = new CgroupfsV1Manager(h).CreateStatsReader();
        Assert.IsType<CgroupV1StatsReader>(v1);
        Assert.False(v1.IsV2);
        Assert.Equal(4096UL, v1.Read(Cgroup, CgroupStatsParts.Memory)!.Memory!.Usage);

        var root = _tmp.Sub("unified");
        Write(root + Cgroup, "memory.current", "8192\n");
        var v2 = CgroupStatsReader.ForHost(new CgroupfsV2Manager(root));
        Assert.IsType<CgroupV2StatsReader>(v2);
        Assert.True(v2.IsV2);
        Assert.Equal(8192UL, v2.Read(Cgroup, CgroupStatsParts.Memory)!.Memory!.Usage);
    }

    [Fact]
    public void A_driver_of_neither_kind_has_no_reader_and_reads_oom_kills_under_the_default_root()
    {
        foreach (var v2 in new[] { true, false })
        {
            ICgroupManager m = new OtherDriver(v2);
            Assert.Throws<NotSupportedException>(() => m.CreateStatsReader());
            Assert.Throws<NotSupportedException>(() => CgroupStatsReader.ForHost(m));
            Assert.Equal(0, m.OomKillCount("/crisharp-test-none/" + Guid.NewGuid().ToString("N")));
        }
    }

    /// <summary>A cgroup driver that is not cgroupfs (as systemd's would be), with only the members it must have.</summary>
    sealed class OtherDriver(bool v2) : ICgroupManager
    {
        public bool IsV2 => v2;
        public string PodCgroupPath(string cgroupParent, string podId) => throw new NotSupportedException();
        public string ContainerCgroupPath(string podCgroupPath, string containerId) => throw new NotSupportedException();
        public void Create(string path, ResourceSpec? resources) => throw new NotSupportedException();
        public void Update(string path, ResourceSpec resources) => throw new NotSupportedException();
        public void Remove(string path) => throw new NotSupportedException();
    }
}
