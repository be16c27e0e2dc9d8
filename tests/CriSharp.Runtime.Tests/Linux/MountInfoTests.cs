using CriSharp.Linux;

namespace CriSharp.Runtime.Tests.Linux;

public class MountInfoTests
{
    const string Fixture =
        "22 27 0:21 / /proc rw,relatime shared:5 - proc proc rw\n" +
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime master:7 - cgroup cgroup rw,cpu,cpuacct\n" +
        "40 27 8:1 /data/with\\040space /mnt/my\\040dir\\011tab rw,relatime shared:12 master:3 - ext4 /dev/sda1 rw\n" +
        "41 27 0:50 / /run/x\\134y ro,nosuid unbindable - overlay overlay ro,lowerdir=/a:/b\n" +
        "garbage line\n";

    [Fact]
    public void ParsesFixture()
    {
        var all = Mounts.ParseMountInfo(Fixture);
        Assert.Equal(5, all.Count);

        var proc = all[0];
        Assert.Equal(22, proc.Id);
        Assert.Equal(27, proc.ParentId);
        Assert.Equal("0:21", proc.MajorMinor);
        Assert.Equal("/proc", proc.MountPoint);
        Assert.Equal("proc", proc.FsType);
        Assert.Equal(5, proc.SharedGroup);
        Assert.Null(proc.MasterGroup);

        var cg = all[2];
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", cg.MountPoint);
        Assert.Equal("rw,cpu,cpuacct", cg.SuperOptions);
        Assert.Equal(7, cg.MasterGroup);
        Assert.False(cg.IsShared);
        Assert.True(cg.IsSlave);
        Assert.Equal(MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec | MountFlags.RelAtime, Mounts.FlagsFromOptions(cg.MountOptions));

        var spaced = all[3];
        Assert.Equal("/data/with space", spaced.Root);
        Assert.Equal("/mnt/my dir\ttab", spaced.MountPoint);
        Assert.Equal(12, spaced.SharedGroup);
        Assert.Equal(3, spaced.MasterGroup);
        Assert.Equal("/dev/sda1", spaced.Source);
        Assert.Equal("ext4", spaced.FsType);

        var ovl = all[4];
        Assert.Equal("/run/x\\y", ovl.MountPoint);
        Assert.True(ovl.IsUnbindable);
        Assert.Empty(all[1].OptionalFields);
    }

    [Fact]
    public void ReadsLiveTable()
    {
        var all = Mounts.ReadMountInfo();
        Assert.Contains(all, m => m.MountPoint == "/");
        Assert.Contains(all, m => m.MountPoint == "/proc" && m.FsType == "proc");
        Assert.True(Mounts.IsMountPoint("/proc"));
        Assert.True(Mounts.IsMountPoint("/"));
        Assert.False(Mounts.IsMountPoint("/proc/self/fd"));
        Assert.False(Mounts.IsMountPoint("/nonexistent-crisharp-path"));
    }
}
